"""Exact Hamming-distance joins of PDQ hashes in memory, for whole-collection rescans.

An upload is checked in Milvus (a few batched searches against everything indexed). A rescan asks
the same question of every image at once: a self-join of each image's turns and flips against
every stored variant. Milvus Lite answers that through a float HNSW graph at about 5 ms per query
hash at 10k images and slower as the collection grows; here the hashes are 256-bit codes in faiss's
binary multi-hash index (what Meta's HMA uses for PDQ), which is exact and answers the whole 10k
rescan in seconds (`manage.py bench_duplicates --scale`). The codes are read from the database, the
source of truth, so a rescan needs no Milvus at all. The only module that imports faiss."""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

BITS = 256
CODE_BYTES = BITS // 8
# The index looks codes up by sub-codes (chunks, bits each). Few long sub-codes mean many look-ups
# (every pattern of up to r // chunks flipped bits) but buckets with few strangers to check; short
# ones the reverse. Measured on 2 cores: a look-up costs about a third of a check, so 16 x 16 bits
# is faster below about 250k stored codes and 11 x 23 above (3.5x at 1.3M codes, distance 31).
LAYOUTS = ((16, 16), (11, 23))
_LOOKUP_COST = 0.35  # one look-up, in checks
# Memory per stored code, measured with 1.3M codes: 404 MB for 16 x 16, 1,173 MB for 11 x 23.
BYTES_PER_CODE = {(16, 16): 330, (11, 23): 950}


def lookups(layout: tuple[int, int], max_distance: int) -> int:
    chunks, bits = layout
    return chunks * sum(math.comb(bits, i) for i in range(max_distance // chunks + 1))


def best_layout(stored: int, max_distance: int, max_bytes: int | None = None) -> tuple[int, int]:
    """The layout with the least work per query (look-ups plus the strangers found in buckets)
    among those that fit in `max_bytes`; the most compact one when none does."""

    def cost(layout: tuple[int, int]) -> float:
        probes = lookups(layout, max_distance)
        return probes * _LOOKUP_COST + probes * stored / 2 ** layout[1]

    fitting = [x for x in LAYOUTS if max_bytes is None or BYTES_PER_CODE[x] * stored <= max_bytes]
    return min(fitting, key=cost) if fitting else min(LAYOUTS, key=BYTES_PER_CODE.__getitem__)


def pack(hex_hashes: list[str]) -> np.ndarray:
    """Hex PDQ hashes as an (n, 32) uint8 array of codes."""
    if not hex_hashes:
        return np.zeros((0, CODE_BYTES), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hex_hashes)), dtype=np.uint8).reshape(-1, CODE_BYTES)


@dataclass(frozen=True)
class Matches:
    """Parallel arrays: query row, stored row and their Hamming distance, one entry per match."""

    query_rows: np.ndarray
    stored_rows: np.ndarray
    distances: np.ndarray

    def __len__(self) -> int:
        return len(self.query_rows)


class HammingIndex:
    """Stored codes, searched for every code within `max_distance` bits of a query."""

    def __init__(
        self,
        codes: np.ndarray,
        max_distance: int,
        layout: tuple[int, int] | None = None,
        *,
        max_bytes: int | None = None,
    ) -> None:
        if not 0 <= max_distance < BITS:
            raise ValueError(f"max_distance must be between 0 and {BITS - 1}")
        self.max_distance = max_distance
        self.layout = layout or best_layout(len(codes), max_distance, max_bytes)
        chunks, bits = self.layout
        self._index = faiss.IndexBinaryMultiHash(BITS, chunks, bits)
        # Exact by the pigeonhole principle: codes within r bits differ in at most r // chunks
        # bits on at least one sub-code, and every candidate is then checked on all 256 bits.
        self._index.nflip = max_distance // chunks
        if len(codes):
            self._index.add(np.ascontiguousarray(codes, dtype=np.uint8))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: np.ndarray) -> Matches:
        if not len(queries) or not len(self):
            empty = np.zeros(0, dtype=np.int64)
            return Matches(empty, empty, empty)
        limits, distances, rows = self._index.range_search(
            np.ascontiguousarray(queries, dtype=np.uint8),
            self.max_distance + 1,  # radius is exclusive
        )
        query_rows = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(limits.astype(np.int64)))
        return Matches(query_rows, rows.astype(np.int64), distances.astype(np.int64))
