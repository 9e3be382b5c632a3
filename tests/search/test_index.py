"""PDQ hashes in Milvus: +1/-1 vectors under inner product give exact Hamming distances."""

from __future__ import annotations

import numpy as np
import pytest

from search import variants
from search.engines.vector_store import VectorRow
from search.index import variant_store
from search.query import copies
from search.variants import pdq_vector

pytestmark = pytest.mark.usefixtures("clean_index")


def flip(hex_hash: str, bits: list[int]) -> str:
    value = int(hex_hash, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:064x}"


def test_range_search_returns_hashes_within_the_distance_with_exact_distances() -> None:
    rng = np.random.default_rng(7)
    query = rng.bytes(32).hex()
    stored = {
        1: query,
        2: flip(query, list(range(10))),
        3: flip(query, list(range(0, 62, 2))),  # 31 bits: the HMA threshold, included
        4: flip(query, list(range(32))),  # 32 bits: just outside
        5: rng.bytes(32).hex(),  # unrelated: about 128 bits away
    }
    store = variant_store()
    rows = [VectorRow(variants.row_id(pk, "plain"), pdq_vector(h), 1, True, 0) for pk, h in stored.items()]
    store.upsert(rows)
    store.flush()

    def near(distance: int) -> list[tuple[int, int]]:
        found = copies.variant_matches(store, {0: [("plain", query)]}, distance, limit=10)[0]
        return [(m.owner_id, m.distance) for m in found]

    assert near(31) == [(1, 0), (2, 10), (3, 31)]
    assert [pk for pk, _ in near(32)] == [1, 2, 3, 4]


def test_pdq_vector_is_plus_minus_one_per_bit() -> None:
    vector = pdq_vector("80" + "00" * 31)
    assert vector.shape == (256,) and vector[0] == 1.0 and (vector[1:] == -1.0).all()
