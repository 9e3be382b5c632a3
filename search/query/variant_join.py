"""Every pair of indexed images whose hashes lie within a Hamming distance: the whole-collection
self-join behind `manage.py find_duplicates`. Each image's turns and flips (the queries) meet every
other image's stored variants (`search.variants.SCAN_QUERY_KINDS` says why that is enough); both
ends of every pair are scanned, so this covers what the index-time check covers. The hashes are
read from the database and joined in memory (`search.engines.hamming`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from ingestion.models import Image

from ..engines.hamming import HammingIndex, pack
from ..models import HashVariant
from ..variants import SCAN_QUERY_KINDS, STORED_KINDS

_READ_CHUNK = 20_000
QUERY_CHUNK = 20_000  # query hashes per search: bounds the memory of one batch of matches


@dataclass(frozen=True)
class VariantPair:
    """Two images (a < b) and the closest pair of hashes between them."""

    a: int
    b: int
    distance: int
    variant: str  # "<query kind>~<stored kind>"


@dataclass
class HashTable:
    owners: np.ndarray  # image id per row
    kinds: np.ndarray  # index into `kind_names` per row
    codes: np.ndarray  # (rows, 32) uint8
    kind_names: tuple[str, ...]


def load_hashes(kinds: tuple[str, ...], min_quality: int) -> HashTable:
    """The strong hashes of these kinds of every indexed image, ordered by image."""
    position = {kind: n for n, kind in enumerate(kinds)}
    owners: list[int] = []
    kind_ids: list[int] = []
    hexes: list[str] = []
    rows = (
        HashVariant.objects.filter(
            kind__in=kinds,
            quality__gte=min_quality,
            image__status=Image.Status.INDEXED,
            image__trashed_at__isnull=True,  # a join skips the default manager's filter
        )
        .order_by("image_id", "kind")
        .values_list("image_id", "kind", "pdq_hash")
    )
    for image_id, kind, pdq_hash in rows.iterator(chunk_size=_READ_CHUNK):
        owners.append(image_id)
        kind_ids.append(position[kind])
        hexes.append(pdq_hash)
    return HashTable(
        np.asarray(owners, dtype=np.int64), np.asarray(kind_ids, dtype=np.int64), pack(hexes), kinds
    )


def _best_per_pair(a: np.ndarray, b: np.ndarray, distance: np.ndarray, *, limit: int) -> np.ndarray:
    """Positions of the closest match of each (a, b), then at most `limit` b's per a, nearest first."""
    order = np.lexsort((distance, b, a))
    a, b, distance = a[order], b[order], distance[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    kept = order[first]
    # Among each a's partners, the `limit` nearest (groups are transitive: a big cluster still joins).
    ka, kd = a[first], distance[first]
    by_distance = np.lexsort((kd, ka))
    sorted_a = ka[by_distance]
    starts = np.r_[0, np.flatnonzero(sorted_a[1:] != sorted_a[:-1]) + 1]
    rank = np.arange(len(sorted_a)) - np.repeat(starts, np.diff(np.r_[starts, len(sorted_a)]))
    return kept[by_distance[rank < limit]]


def near_pairs(
    max_distance: int,
    *,
    min_quality: int,
    limit: int = 20,
    progress: Callable[[int], None] | None = None,
) -> dict[tuple[int, int], VariantPair]:
    """The closest hash pair of every two images within `max_distance`; `progress(n)` is told how
    many more images were scanned."""
    stored = load_hashes(tuple(STORED_KINDS), min_quality)
    queries = load_hashes(SCAN_QUERY_KINDS, min_quality)
    index = HammingIndex(stored.codes, max_distance, max_bytes=settings.RESCAN_INDEX_MAX_MB * 2**20)
    found: dict[tuple[int, int], VariantPair] = {}
    start = 0
    while start < len(queries.owners):
        end = min(start + QUERY_CHUNK, len(queries.owners))
        # Whole images per chunk, so each image's nearest partners are chosen over all its hashes.
        while end < len(queries.owners) and queries.owners[end] == queries.owners[end - 1]:
            end += 1
        matches = index.search(queries.codes[start:end])
        q_rows = matches.query_rows + start
        a, b = queries.owners[q_rows], stored.owners[matches.stored_rows]
        other = a != b
        q_rows, s_rows, a, b, distance = (
            q_rows[other],
            matches.stored_rows[other],
            a[other],
            b[other],
            matches.distances[other],
        )
        for n in _best_per_pair(a, b, distance, limit=limit):
            key = (int(min(a[n], b[n])), int(max(a[n], b[n])))
            current = found.get(key)
            if current is None or distance[n] < current.distance:
                query_kind = queries.kind_names[queries.kinds[q_rows[n]]]
                stored_kind = stored.kind_names[stored.kinds[s_rows[n]]]
                found[key] = VariantPair(*key, int(distance[n]), f"{query_kind}~{stored_kind}")
        if progress is not None:
            progress(len(np.unique(queries.owners[start:end])))
        start = end
    return found
