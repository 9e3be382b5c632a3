"""VectorStore against a real Milvus Lite (in-process, and one `milvus-lite server` subprocess) and
a real Milvus 2.3.5 standalone server: every test of a store runs on both engines."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from search.engines import vector_store
from search.engines.vector_store import (
    Engine,
    Hit,
    SearchFilter,
    VectorRow,
    VectorStore,
    VectorStoreError,
    close_client,
    collection_name,
    engine,
    get_client,
    ping,
)
from tests.factories import stored_count, stored_vectors

DIM = 16
N = 60


def unit_vectors(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_rows(vectors: np.ndarray, start: int = 1) -> list[VectorRow]:
    # owners cycle 1,2,3; every other row public; created_at 1000, 1010, ...
    return [
        VectorRow(id=start + i, vector=v, owner_id=1 + i % 3, is_public=i % 2 == 0, created_at=1000 + 10 * i)
        for i, v in enumerate(vectors)
    ]


@pytest.fixture(scope="module")
def server_collection(milvus_standalone) -> Iterator[str]:
    """One collection on the session's Milvus server for this module's tests (a server takes
    about 3 s to create and load one), dropped at the end."""
    name = f"img_test_16_{uuid.uuid4().hex[:8]}"
    yield name
    get_client(milvus_standalone).drop_collection(name)


@pytest.fixture(params=["lite", "server"])
def store(request, tmp_path: Path) -> Iterator[VectorStore]:
    """An empty collection in Milvus Lite (in-process, its own file) or on the session's Milvus
    server (the module's collection, emptied)."""
    if request.param == "lite":
        uri = str(tmp_path / "milvus.db")
        vs = VectorStore("img_test_16", DIM, uri=uri)
        vs.ensure_collection()
        yield vs
        close_client(uri)
        return
    uri = request.getfixturevalue("milvus_standalone")
    yield emptied(VectorStore(request.getfixturevalue("server_collection"), DIM, uri=uri))


def emptied(store: VectorStore) -> VectorStore:
    store.ensure_collection()
    store.delete(sorted(store.ids()))
    return store


@pytest.fixture
def filled(store: VectorStore) -> tuple[VectorStore, np.ndarray, dict[int, VectorRow]]:
    vectors = unit_vectors(N, seed=1)
    rows = make_rows(vectors)
    store.upsert(rows)
    store.flush()
    return store, vectors, {r.id: r for r in rows}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def all_ids(store: VectorStore, vector: np.ndarray, flt: SearchFilter | None) -> set[int]:
    return {h.id for h in store.search(vector, limit=N + 10, filter=flt)}


# ----------------------------------------------------------------------------- pure helpers


def test_collection_name_readable_for_hub_ids() -> None:
    assert collection_name("openai/clip-vit-base-patch32", 512) == "img_openai_clip_vit_base_patch32_512"


@pytest.mark.parametrize(
    "model_id",
    ["/models/clip", "/models/Clip", "openai/clip-vit-base-patch32/", "x" * 400, "ünï/cödé", "", "a b"],
)
def test_collection_name_is_valid_for_odd_ids(model_id: str) -> None:
    name = collection_name(model_id, 768)
    assert name[0].isalpha() and len(name) <= 255
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")
    assert name.endswith("_768")


def test_collection_name_never_collides() -> None:
    ids = [
        "openai/clip-vit-base-patch32",
        "openai_clip_vit_base_patch32",
        "openai-clip/vit-base-patch32",
        "openai/clip_vit_base_patch32",
        "OpenAI/clip-vit-base-patch32",
        "/models/clip-a",
        "/models/clip_a",
        "/models/clip/a",
        "/data/" + "m" * 300 + "1",
        "/data/" + "m" * 300 + "2",
    ]
    names = {collection_name(i, 512) for i in ids}
    assert len(names) == len(ids)
    assert collection_name("openai/clip", 512) != collection_name("openai/clip", 768)
    assert collection_name("/models/clip", 512) == collection_name("/models/clip", 512)


def test_search_filter_expression() -> None:
    assert SearchFilter().expression() == "is_public == true"
    expr = SearchFilter(
        viewer_id=7,
        owner_id=7,
        visibility="private",
        created_after=100,
        created_before=200,
        exclude_ids=(3, np.int64(4)),
    ).expression()
    assert expr == (
        "(is_public == true or owner_id == 7) and owner_id == 7 and is_public == false"
        " and created_at >= 100 and created_at <= 200 and id not in [3, 4]"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"viewer_id": "1 or 1==1"},
        {"viewer_id": "1"},
        {"owner_id": 1.5},
        {"created_after": True},
        {"exclude_ids": ("1) or (1==1",)},
        {"exclude_ids": "12"},
        {"visibility": "public or 1==1"},
        {"visibility": "PUBLIC"},
    ],
)
def test_search_filter_rejects_untyped_values(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        SearchFilter(**kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Milvus Lite and server


def test_ensure_collection_is_idempotent(store: VectorStore) -> None:
    store.ensure_collection()
    store.ensure_collection()
    assert stored_count(store) == 0
    assert store.ids() == set()
    assert get_client(store.uri) is get_client(store.uri)


def test_ensure_collection_rejects_other_dim(store: VectorStore) -> None:
    with pytest.raises(VectorStoreError, match="dim"):
        VectorStore(store.name, DIM * 2, uri=store.uri).ensure_collection()


def test_search_finds_same_vector_first(filled) -> None:
    store, vectors, _ = filled
    for i in (0, 17, N - 1):
        hits = store.search(vectors[i], limit=5, filter=None)
        assert hits[0] == Hit(id=i + 1, score=pytest.approx(1.0, abs=1e-4))
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # plain lists work as well as numpy arrays
    assert store.search(vectors[3].tolist(), limit=1)[0].id == 4


def test_search_offset_pages(filled) -> None:
    store, vectors, _ = filled
    first = store.search(vectors[0], limit=10)
    # ids only: scores may differ in the last float bits once the background HNSW build lands
    assert [h.id for h in store.search(vectors[0], limit=5, offset=5)] == [h.id for h in first[5:10]]


def test_upsert_same_id_replaces(filled) -> None:
    store, vectors, rows = filled
    new = unit_vectors(1, seed=99)[0]
    store.upsert([VectorRow(id=5, vector=new, owner_id=9, is_public=True, created_at=1)])
    store.flush()
    assert stored_count(store) == N
    assert store.search(new, limit=1)[0] == Hit(id=5, score=pytest.approx(1.0, abs=1e-4))
    assert 5 in all_ids(store, new, SearchFilter(owner_id=9))
    np.testing.assert_allclose(stored_vectors(store, [5])[5], new, atol=1e-6)


def test_delete_removes_from_results(filled) -> None:
    store, vectors, _ = filled
    store.delete([1, 2])
    store.delete([])
    store.flush()
    assert store.search(vectors[0], limit=1)[0].id != 1
    assert 1 not in all_ids(store, vectors[0], None) and 2 not in all_ids(store, vectors[0], None)
    assert stored_count(store) == N - 2
    assert store.ids() == set(range(3, N + 1))


def test_search_without_flush_sees_rows(store: VectorStore) -> None:
    vectors = unit_vectors(5, seed=3)
    store.upsert(make_rows(vectors))
    assert store.search(vectors[4], limit=1)[0].id == 5


def test_filters(filled) -> None:
    store, vectors, rows = filled
    q = vectors[0]

    def expect(pred) -> set[int]:
        return {i for i, r in rows.items() if pred(r)}

    assert all_ids(store, q, None) == set(rows)
    assert all_ids(store, q, SearchFilter()) == expect(lambda r: r.is_public)
    assert all_ids(store, q, SearchFilter(viewer_id=2)) == expect(lambda r: r.is_public or r.owner_id == 2)
    assert all_ids(store, q, SearchFilter(viewer_id=2, owner_id=2)) == expect(lambda r: r.owner_id == 2)
    assert all_ids(store, q, SearchFilter(owner_id=2)) == expect(lambda r: r.owner_id == 2 and r.is_public)
    assert all_ids(store, q, SearchFilter(viewer_id=3, visibility="private")) == expect(
        lambda r: r.owner_id == 3 and not r.is_public
    )
    assert all_ids(store, q, SearchFilter(viewer_id=3, visibility="public")) == expect(lambda r: r.is_public)
    assert all_ids(store, q, SearchFilter(viewer_id=1, created_after=1100, created_before=1300)) == expect(
        lambda r: (r.is_public or r.owner_id == 1) and 1100 <= r.created_at <= 1300
    )
    excluded = SearchFilter(viewer_id=1, exclude_ids=(1, 4, 7))
    assert all_ids(store, q, excluded) == expect(lambda r: r.is_public or r.owner_id == 1) - {1, 4, 7}
    # a filter matching nothing is not an error
    assert store.search(q, limit=5, filter=SearchFilter(owner_id=12345)) == []


def test_min_score_drops_low_scores(filled) -> None:
    store, vectors, _ = filled
    all_hits = store.search(vectors[0], limit=N)
    threshold = (all_hits[4].score + all_hits[5].score) / 2
    kept = store.search(vectors[0], limit=N, min_score=threshold)
    assert [h.id for h in kept] == [h.id for h in all_hits[:5]]


def test_range_search_matches_brute_force(store: VectorStore) -> None:
    vectors = unit_vectors(400, seed=5)
    store.upsert(make_rows(vectors))
    store.flush()
    query = vectors[10] + 0.3 * unit_vectors(1, seed=6)[0]
    query /= np.linalg.norm(query)
    sims = vectors @ query
    ordered = np.sort(sims)[::-1]
    threshold = float((ordered[24] + ordered[25]) / 2)

    hits = store.range_search(query, min_score=threshold, limit=1000)
    assert {h.id for h in hits} == {int(i) + 1 for i in np.flatnonzero(sims >= threshold)}
    assert len(hits) == 25
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for h in hits:
        assert h.score == pytest.approx(float(sims[h.id - 1]), abs=1e-4)
    capped = store.range_search(query, min_score=threshold, limit=10)
    assert [h.id for h in capped] == [h.id for h in hits[:10]]
    public = store.range_search(query, min_score=threshold, limit=1000, filter=SearchFilter())
    assert {h.id for h in public} == {h.id for h in hits if (h.id - 1) % 2 == 0}
    assert store.range_search(query, min_score=0.9999, limit=10) == []


def test_ids(filled, monkeypatch) -> None:
    store, _, rows = filled
    assert stored_count(store) == N
    assert store.ids() == set(rows)
    # More rows than one query may return: an iterator pages through them.
    monkeypatch.setattr(vector_store, "_QUERY_WINDOW", 7)
    assert store.ids() == set(rows)


def test_wrong_dimension_is_rejected(store: VectorStore) -> None:
    with pytest.raises(ValueError):
        store.search(np.ones(DIM + 1, dtype=np.float32), limit=1)


def test_a_vanished_collection_is_recreated_empty(filled) -> None:
    store, _, _ = filled
    get_client(store.uri).drop_collection(store.name)
    assert store.name not in get_client(store.uri).list_collections()
    # A store whose collection vanished (dropped, Milvus data wiped) recreates it empty on
    # next use, so workers holding a handle keep working and `reconcile` refills it.
    assert store.ids() == set()
    assert store.name in get_client(store.uri).list_collections()


def test_ping_in_process(store: VectorStore) -> None:
    ping(store.uri)


@pytest.mark.parametrize(
    ("text", "lite", "version"),
    [
        ("milvus_lite-3.2.2", True, (3, 2, 2)),
        ("v2.3.5-lite", False, (2, 3, 5)),  # the PyPI `milvus` package's server build
        ("v2.5.4", False, (2, 5, 4)),
        ("2.4", False, (2, 4, 0)),
        ("unknown", False, (0, 0, 0)),
    ],
)
def test_engine_is_read_from_the_version(text: str, lite: bool, version: tuple[int, int, int]) -> None:
    assert Engine.parse(text) == Engine(lite=lite, version=version)
    assert Engine.parse(text).flushes_writes is lite


def test_engine_of_each_store(store: VectorStore) -> None:
    found = engine(store.uri)
    if store.uri.startswith("http"):
        assert found == Engine(lite=False, version=(2, 3, 5))
    else:
        assert found.lite and found.version >= (3, 2, 0)
    assert engine(store.uri) is found  # asked once


def test_flush_only_where_the_engine_needs_it(store: VectorStore, monkeypatch) -> None:
    calls = []
    client = get_client(store.uri)
    monkeypatch.setattr(client, "flush", lambda *a, **k: calls.append(a))
    store.upsert(make_rows(unit_vectors(3, seed=4)))
    store.flush()
    # Milvus Lite persists on flush; on a server a flush seals segments (seconds each): skipped.
    assert len(calls) == (1 if engine(store.uri).lite else 0)
    assert store.search(unit_vectors(3, seed=4)[2], limit=1)[0].id == 3


WRITER = """
import sys, numpy as np
from search.engines.vector_store import VectorRow, VectorStore
store = VectorStore(sys.argv[1], {dim}, uri=sys.argv[2], token="")
v = np.random.default_rng(11).normal(size={dim}).astype(np.float32)
store.upsert([VectorRow(id=777, vector=v / np.linalg.norm(v), owner_id=5, is_public=True, created_at=1)])
print("written", flush=True)
sys.stdin.read()
"""


def test_batched_reads_see_what_another_process_just_wrote(milvus_standalone, server_collection) -> None:
    """A worker's duplicate and ban checks (search_many) and reconcile (ids) must see a row another
    process wrote a moment ago; a server would otherwise answer from before its last time tick.
    (Milvus Lite opens its file in one process only.)"""
    store = emptied(VectorStore(server_collection, DIM, uri=milvus_standalone))
    v = np.random.default_rng(11).normal(size=DIM).astype(np.float32)
    v /= np.linalg.norm(v)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(dim=DIM), store.name, store.uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert writer.stdout.readline() == b"written\n"
        assert [h.id for h in store.search_many(np.stack([v]), limit=1)[0]] == [777]
        assert store.ids() == {777}
    finally:
        writer.communicate(timeout=30)


def test_ping_dead_server_fails_instead_of_waiting() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(VectorStoreError, match="unreachable"):
        ping(uri)
    with pytest.raises(VectorStoreError, match="unreachable"):
        VectorStore("img_test_16", DIM, uri=uri).search(np.ones(DIM), limit=1)
    close_client(uri)


def test_ping_a_server_that_never_answers_gives_up_on_its_own() -> None:
    """A port that accepts connections and then says nothing (a hung server): only ping's own
    timeouts can end the call, so it returning at all (with the error) is what is checked."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(VectorStoreError, match="unreachable"):
            ping(uri)
        close_client(uri)


# ----------------------------------------------------------------------------- server mode


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    binary = Path(sys.executable).with_name("milvus-lite")
    proc = subprocess.Popen(
        [str(binary), "server", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"milvus-lite server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("milvus-lite server did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_server_mode_survives_restart(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "server.db", free_port()
    uri = f"http://127.0.0.1:{port}"
    vectors = unit_vectors(30, seed=8)
    proc = start_server(data_dir, port)
    try:
        store = VectorStore("img_server_16", DIM, uri=uri)
        store.ensure_collection()
        store.upsert(make_rows(vectors))
        store.flush()
        assert store.search(vectors[7], limit=1)[0].id == 8
        ping(uri)
        assert engine(uri).lite  # Milvus Lite behind a URI still flushes its file

        stop_server(proc)
        with pytest.raises(VectorStoreError, match="unreachable"):
            ping(uri)

        proc = start_server(data_dir, port)
        # The restarted server has the collection released; the store must load it itself.
        hit = store.search(vectors[7], limit=1, filter=SearchFilter(viewer_id=2))[0]
        assert hit == Hit(id=8, score=pytest.approx(1.0, abs=1e-4))
        assert stored_count(store) == 30
        ping(uri)
    finally:
        stop_server(proc)
        close_client(uri)
