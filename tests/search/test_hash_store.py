"""HashStore: PDQ hashes in the layout each engine offers, one interface. On a real Milvus 2.3.5
server a BINARY_VECTOR under HAMMING (32 bytes a hash); on Milvus Lite +1/-1 float vectors under
inner product. Every test runs on both and expects the same Hamming distances."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pymilvus import DataType

from search.engines.vector_store import (
    PK,
    VECTOR,
    HashHit,
    HashStore,
    SearchFilter,
    VectorRow,
    close_client,
    get_client,
)
from search.variants import pdq_vector

BITS = 256


def flip(hex_hash: str, bits: list[int]) -> str:
    value = int(hex_hash, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:064x}"


@pytest.fixture(scope="module")
def server_base(milvus_standalone) -> Iterator[str]:
    """One hash collection on the session's Milvus server for this module (a server takes about
    3 s to create and load one), dropped at the end."""
    base = f"pdq_test_{uuid.uuid4().hex[:8]}"
    yield base
    client = get_client(milvus_standalone)
    for name in client.list_collections():
        if name.startswith(base):
            client.drop_collection(name)


@pytest.fixture(params=["lite", "server"])
def store(request, tmp_path: Path) -> Iterator[HashStore]:
    """An empty hash collection in Milvus Lite (its own file) or on the Milvus server."""
    if request.param == "lite":
        uri = str(tmp_path / "milvus.db")
        hashes = HashStore("pdq_test", BITS, uri=uri)
        hashes.ensure_collection()
        yield hashes
        close_client(uri)
        return
    uri = request.getfixturevalue("milvus_standalone")
    hashes = HashStore(request.getfixturevalue("server_base"), BITS, uri=uri)
    hashes.ensure_collection()
    hashes.delete(sorted(hashes.ids()))
    yield hashes


def row(pk: int, value, owner: int = 1, public: bool = True) -> VectorRow:
    return VectorRow(id=pk, vector=value, owner_id=owner, is_public=public, created_at=1000 + pk)


def nearest(store: HashStore, query, max_distance: int, **kwargs) -> list[tuple[int, int]]:
    return [(h.id, h.distance) for h in store.nearest_many([query], 10, max_distance, **kwargs)[0]]


def test_each_engine_gets_its_layout(store: HashStore) -> None:
    info = get_client(store.uri).describe_collection(store.name)
    field = next(f for f in info["fields"] if f["name"] == VECTOR)
    index = get_client(store.uri).describe_index(store.name, index_name=VECTOR)
    if store.binary:  # the server: its own name, so float-layout rows of before are never read
        assert store.name == store.base_name + "_bin"
        assert field["type"] == DataType.BINARY_VECTOR and int(field["params"]["dim"]) == BITS
        assert (index["index_type"], index["metric_type"]) == ("BIN_FLAT", "HAMMING")
    else:
        assert store.name == store.base_name
        assert field["type"] == DataType.FLOAT_VECTOR
        assert index["metric_type"] == "IP"
    assert store.layout_names() == (store.base_name, store.base_name + "_bin")


def test_nearest_answers_exact_hamming_distances_on_both_layouts(store: HashStore) -> None:
    rng = np.random.default_rng(7)
    query = rng.bytes(32).hex()
    stored = {
        1: query,
        2: flip(query, list(range(10))),
        3: flip(query, list(range(0, 62, 2))),  # 31 bits: the threshold, included
        4: flip(query, list(range(32))),  # 32 bits: just outside
        5: rng.bytes(32).hex(),  # unrelated: about 128 bits away
    }
    store.upsert([row(pk, h) for pk, h in stored.items()])
    store.flush()

    assert nearest(store, query, 31) == [(1, 0), (2, 10), (3, 31)]
    assert nearest(store, query, 32) == [(1, 0), (2, 10), (3, 31), (4, 32)]
    # Every way of giving a hash is the same hash: hex, raw bytes, bits as pdq_vector gives them.
    assert nearest(store, bytes.fromhex(query), 31) == nearest(store, pdq_vector(query), 31)
    assert nearest(store, query, 0) == [(1, 0)]
    far = store.nearest_many([query], 10, BITS)[0]
    assert [h.id for h in far] == [1, 2, 3, 4, 5] and far[-1].distance > 64
    assert all(isinstance(h, HashHit) and isinstance(h.distance, int) for h in far)


def test_many_queries_in_one_call_keep_their_order(store: HashStore) -> None:
    rng = np.random.default_rng(8)
    hashes = [rng.bytes(32).hex() for _ in range(6)]
    store.upsert([row(10 + n, h) for n, h in enumerate(hashes)])
    queries = [flip(h, list(range(n))) for n, h in enumerate(hashes)]  # query n is n bits from row 10 + n
    found = store.nearest_many(queries, limit=3, max_distance=31)
    assert [[(h.id, h.distance) for h in hits] for hits in found] == [[(10 + n, n)] for n in range(6)]
    assert store.nearest_many([], limit=3, max_distance=31) == []
    assert store.nearest_many(queries[:2], limit=0, max_distance=31) == [[], []]


def test_filters_upserts_and_deletes(store: HashStore) -> None:
    query = "ab" * 32
    store.upsert([row(1, query, owner=1), row(2, flip(query, [1]), owner=2, public=False)])
    assert nearest(store, query, 31, filter=SearchFilter()) == [(1, 0)]
    assert nearest(store, query, 31, filter=SearchFilter(viewer_id=2)) == [(1, 0), (2, 1)]
    # An upsert replaces the row's hash and its scalar fields.
    store.upsert([row(1, flip(query, [0, 1, 2]), owner=3)])
    assert nearest(store, query, 31) == [(2, 1), (1, 3)]
    store.delete([2])
    assert nearest(store, query, 31) == [(1, 3)]
    assert store.ids() == {1}


def test_a_binary_row_holds_32_bytes_a_float_row_1_kb(store: HashStore) -> None:
    value = "0f" * 32
    store.upsert([row(7, value)])
    stored = get_client(store.uri).get(store.name, ids=[7], output_fields=[PK, VECTOR])[0][VECTOR]
    if store.binary:
        raw = stored[0] if isinstance(stored, list) else stored
        assert bytes(raw) == bytes.fromhex(value)  # 32 bytes
    else:
        np.testing.assert_array_equal(np.asarray(stored, dtype=np.float32), pdq_vector(value))  # 256 x 4


@pytest.mark.parametrize(
    "value",
    ["0f" * 31, "0f" * 33, "zz" * 32, "abc", b"\x00" * 31, np.ones(255, dtype=np.float32)],
    ids=["short hex", "long hex", "not hex", "odd hex", "31 bytes", "255 bits"],
)
def test_a_malformed_hash_is_refused_before_milvus(tmp_path: Path, value) -> None:
    store = HashStore("pdq_test", BITS, uri=str(tmp_path / "never-opened.db"))
    with pytest.raises(ValueError, match="hash"):
        store._encode(value)


def test_hash_bits_must_fill_bytes() -> None:
    with pytest.raises(ValueError, match="whole bytes"):
        HashStore("pdq_test", 250)
