"""The in-memory Hamming index behind rescans: exact against a brute-force count of bits."""

from __future__ import annotations

import numpy as np
import pytest

from search.engines import hamming


def flip(code: np.ndarray, bits) -> np.ndarray:
    # Bits numbered as faiss reads them: least significant first within each byte.
    unpacked = np.unpackbits(code, bitorder="little")
    unpacked[np.asarray(bits, dtype=int)] ^= 1
    return np.packbits(unpacked, bitorder="little")


def spread(distance: int, layout: tuple[int, int]) -> list[int]:
    """`distance` bits spread over every sub-code the index looks up, as evenly as they go."""
    chunks, bits = layout
    return [(n % chunks) * bits + n // chunks for n in range(distance)]


def brute_force(stored: np.ndarray, queries: np.ndarray, max_distance: int) -> set[tuple[int, int, int]]:
    distances = np.unpackbits(queries[:, None, :] ^ stored[None, :, :], axis=2).sum(axis=2)
    near = zip(*np.nonzero(distances <= max_distance), strict=True)
    return {(int(q), int(s), int(distances[q, s])) for q, s in near}


@pytest.mark.parametrize("layout", hamming.LAYOUTS)
@pytest.mark.parametrize("max_distance", [0, 15, 31, 47])
def test_finds_exactly_the_codes_within_the_distance(max_distance, layout):
    rng = np.random.default_rng(max_distance)
    stored = rng.integers(0, 256, (400, hamming.CODE_BYTES), dtype=np.uint8)
    # Queries at many distances around the threshold, random and spread over every sub-code.
    distances = list(range(0, 64, 3)) + [max_distance, max_distance + 1]
    queries = [flip(stored[n], rng.choice(256, d, replace=False)) for n, d in enumerate(distances)]
    queries += [flip(stored[100 + n], spread(d, layout)) for n, d in enumerate(distances)]
    queries = np.stack(queries + [rng.integers(0, 256, hamming.CODE_BYTES, dtype=np.uint8)])
    matches = hamming.HammingIndex(stored, max_distance, layout).search(queries)
    found = set(
        zip(
            matches.query_rows.tolist(), matches.stored_rows.tolist(), matches.distances.tolist(), strict=True
        )
    )
    assert found == brute_force(stored, queries, max_distance)
    at_threshold = len(distances) * 2 - 2  # the spread query exactly at max_distance
    assert (at_threshold, 100 + len(distances) - 2, max_distance) in found


def test_pack_reads_hex_hashes():
    codes = hamming.pack(["ff" * 32, "00" * 31 + "01"])
    assert codes.shape == (2, 32) and codes.dtype == np.uint8
    assert codes[0].tolist() == [255] * 32 and codes[1, -1] == 1
    assert hamming.pack([]).shape == (0, 32)


def test_empty_sides_find_nothing():
    code = np.zeros((1, hamming.CODE_BYTES), dtype=np.uint8)
    assert len(hamming.HammingIndex(np.zeros((0, 32), dtype=np.uint8), 31).search(code)) == 0
    assert len(hamming.HammingIndex(code, 31).search(np.zeros((0, 32), dtype=np.uint8))) == 0


@pytest.mark.parametrize("bad", [-1, 256])
def test_a_distance_outside_the_hash_is_refused(bad):
    with pytest.raises(ValueError):
        hamming.HammingIndex(np.zeros((1, 32), dtype=np.uint8), bad)


def test_the_layout_follows_the_size_of_the_collection():
    assert hamming.best_layout(50_000, 31) == (16, 16)
    assert hamming.best_layout(1_300_000, 31) == (11, 23)
    assert hamming.HammingIndex(np.zeros((10, 32), dtype=np.uint8), 31).layout == (16, 16)


def test_a_memory_budget_keeps_the_compact_layout():
    assert hamming.best_layout(1_300_000, 31, max_bytes=2 * 2**30) == (11, 23)
    assert hamming.best_layout(1_300_000, 31, max_bytes=600 * 2**20) == (16, 16)
    assert hamming.best_layout(10_000_000, 31, max_bytes=600 * 2**20) == (16, 16)  # none fits: compact
