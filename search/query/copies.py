"""Is X a copy of Y, and how: the one judgement. The per-image duplicates endpoint and panel,
search's copy collapsing, the moderation queue and the ban checks all ask here, so they cannot
disagree. Three tiers, strongest first:

- exact: the same sha256;
- pdq (model-free): one image's strong hashes (its turns and flips, trimmed borders, crops and
  cut sides: `search.variants`) within PDQ_MATCH_DISTANCE of the other's stored variants;
- clip: CLIP cosine >= NEAR_DUPLICATE_SCORE, only where the model can judge (`semantic_enabled`).

What a match is called on a page (`near`, `similar`) is `classify`'s business, also here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, QuerySet

from ingestion.models import Image

from .. import index, variants
from ..engines.encoder import DEMO_MODELS
from ..engines.encoder.families import near_duplicate_score
from ..engines.vector_store import HashStore, SearchFilter
from ..pipeline import switching

EXACT, PDQ, CLIP = "exact", "pdq", "clip"  # the tiers (moderation stores them on its links)
NEAR, SIMILAR = "near", "similar"  # how the duplicates endpoint names a pdq/clip and a weaker match
_RANK = {EXACT: 0, PDQ: 1, CLIP: 2}
NEIGHBOURS = 20  # matches kept per query hash; groups are transitive, so a big cluster still joins
_QUERY_CHUNK = 512  # query vectors per Milvus call


# ---------------------------------------------------------------------------- the semantic tier


def semantic_enabled() -> bool:
    """`DUPLICATE_SEMANTIC`: `auto` trusts CLIP unless the model is the random-weight demo; `on` and
    `off` decide for a model folder the code cannot know is random."""
    mode = settings.DUPLICATE_SEMANTIC
    if mode == "auto":
        return switching.active_model_or_current() not in DEMO_MODELS
    return mode == "on"


def semantic_off_reason() -> str:
    """Why the CLIP tier is off, for the pages that show matches; empty when it is on."""
    if semantic_enabled():
        return ""
    if settings.DUPLICATE_SEMANTIC == "off":
        return (
            "The semantic (CLIP) tier is turned off (DUPLICATE_SEMANTIC=off). Exact and PDQ matches "
            "still work."
        )
    return (
        "The semantic (CLIP) tier is off: the demo model has random weights and cannot judge "
        "near-duplicates. Exact and PDQ matches still work."
    )


# ---------------------------------------------------------------------------- matches


@dataclass(frozen=True)
class Match:
    """The best evidence that `other_id` (an image, or a ban entry) is a copy of `query_id`."""

    query_id: int
    other_id: int
    tier: str
    distance: int | None = None  # PDQ Hamming distance of the closest pair of hashes
    score: float | None = None  # CLIP cosine, where it was read
    variant: str = ""  # which hashes met: "sha256", "mirror~plain", "clip"

    def better_than(self, other: Match) -> bool:
        return (_RANK[self.tier], self.distance or 0) < (_RANK[other.tier], other.distance or 0)


def offer(found: dict[int, Match], match: Match) -> None:
    """Keep the better of two matches of one pair (keyed by the other side)."""
    current = found.get(match.other_id)
    if current is None or match.better_than(current):
        found[match.other_id] = match


def query_hashes(image: Image) -> list[tuple[str, str]]:
    """Every strong hash of `image` (turns and flips, and the stored variants), as (kind, hex)."""
    return [(v.kind, v.pdq_hash) for v in image.hash_variants.all() if variants.strong(v.quality)]


@dataclass(frozen=True)
class VariantMatch:
    """The closest pair of hashes between a query and one stored owner (image or ban entry)."""

    owner_id: int
    distance: int
    stored_kind: str
    query_kind: str

    @property
    def variant(self) -> str:
        return f"{self.query_kind}~{self.stored_kind}"


def variant_matches(
    store: HashStore,
    queries: dict[int, list[tuple[str, str]]],
    max_distance: int,
    limit: int = NEIGHBOURS,
    search_filter: SearchFilter | None = None,
) -> dict[int, list[VariantMatch]]:
    """For each query key, the stored owners whose variants lie within `max_distance` of any of
    its (kind, hex hash) queries, nearest first: all keys' hashes go to Milvus in a few batched
    searches, never one search per image pair. Each hash keeps its `limit` nearest stored
    variants (a top-k search: Milvus Lite answers range searches by scanning, 25x slower)."""
    flat = [(key, kind, hex_hash) for key, hashes in queries.items() for kind, hex_hash in hashes]
    best: dict[int, dict[int, VariantMatch]] = {key: {} for key in queries}
    for start in range(0, len(flat), _QUERY_CHUNK):
        chunk = flat[start : start + _QUERY_CHUNK]
        hashes = [h for _, _, h in chunk]
        results = store.nearest_many(hashes, limit=limit, max_distance=max_distance, filter=search_filter)
        for (key, query_kind, _), hits in zip(chunk, results, strict=True):
            for hit in hits:
                owner_id, stored_kind = variants.split_row_id(hit.id)
                distance = hit.distance
                current = best[key].get(owner_id)
                if current is None or distance < current.distance:
                    best[key][owner_id] = VariantMatch(owner_id, distance, stored_kind, query_kind)
    order = lambda m: (m.distance, m.owner_id)  # noqa: E731
    return {key: sorted(found.values(), key=order) for key, found in best.items()}


def copies_of(
    images: list[Image],
    *,
    among: QuerySet[Image] | None = None,
    search_filter: SearchFilter | None = None,
    neighbours: int = NEIGHBOURS,
) -> dict[int, dict[int, Match]]:
    """For each image, the indexed images that are copies of it (other id -> best match), in a
    few batched queries. `among` limits the other side (a viewer's images; default every indexed
    image) and `search_filter` says the same to Milvus, so a viewer's matches are not crowded out
    by rows they may not see. The images need their `hash_variants` loaded (prefetch them)."""
    found: dict[int, dict[int, Match]] = {image.pk: {} for image in images}
    pool = Image.objects.filter(status=Image.Status.INDEXED) if among is None else among
    by_sha: dict[str, list[int]] = {}
    for image in images:
        by_sha.setdefault(image.sha256, []).append(image.pk)
    for other_id, sha in pool.filter(sha256__in=list(by_sha)).values_list("pk", "sha256"):
        for image_id in by_sha[sha]:
            if image_id != other_id:
                offer(found[image_id], Match(image_id, other_id, EXACT, 0, 1.0, "sha256"))

    queries = {i.pk: q for i in images if (q := query_hashes(i))}
    matches = variant_matches(
        index.variant_store(), queries, settings.PDQ_MATCH_DISTANCE, neighbours, search_filter
    )
    for image_id, hits in matches.items():
        for m in hits:
            if m.owner_id != image_id:
                offer(found[image_id], Match(image_id, m.owner_id, PDQ, m.distance, None, m.variant))

    if semantic_enabled():
        floor = near_duplicate_score(switching.active_model_or_current())
        for image_id, other_id, score in _embedding_neighbours(images, floor, neighbours, search_filter):
            offer(found[image_id], Match(image_id, other_id, CLIP, None, score, "clip"))

    # Only images that still exist on the other side (a hit may be a row deleted a moment ago).
    others = {other for matches in found.values() for other in matches}
    alive = set(pool.filter(pk__in=others).values_list("pk", flat=True))
    return {key: {o: m for o, m in matches.items() if o in alive} for key, matches in found.items()}


def _embedding_neighbours(
    images: Iterable[Image], floor: float, neighbours: int, search_filter: SearchFilter | None = None
) -> Iterable[tuple[int, int, float]]:
    """(image id, neighbour id, cosine) of the stored embeddings at or above `floor`."""
    ids = [image.pk for image in images]
    model_id, stored = switching.active_vectors(ids)
    by_dim: dict[int, list[tuple[int, np.ndarray]]] = {}
    for image_id in ids:
        if image_id in stored:
            by_dim.setdefault(len(stored[image_id]), []).append((image_id, stored[image_id]))
    for dim, rows in by_dim.items():
        store = index.embedding_store(model_id, dim)
        results = store.search_many(
            np.stack([v for _, v in rows]), limit=neighbours, min_score=floor, filter=search_filter
        )
        for (image_id, _), hits in zip(rows, results, strict=True):
            for hit in hits:
                if hit.id != image_id:
                    yield image_id, hit.id, round(hit.score, 4)


def similar_neighbours(
    image: Image, limit: int, floor: float, search_filter: SearchFilter | None = None
) -> list[tuple[int, float]]:
    """Images whose CLIP cosine with `image` is at least `floor` but which may not be copies: the
    duplicates endpoint's `similar` tier. Empty where the model cannot judge."""
    if not semantic_enabled():
        return []
    return [(other, score) for _, other, score in _embedding_neighbours([image], floor, limit, search_filter)]


def closest_vector(vector: np.ndarray, matrix: np.ndarray) -> tuple[int, float] | None:
    """The row of `matrix` (unit vectors) nearest `vector` by cosine, when it reaches the clip tier."""
    if not len(matrix):
        return None
    scores = matrix @ vector
    best = int(np.argmax(scores))
    if scores[best] < near_duplicate_score(switching.active_model_or_current()):
        return None
    return best, round(float(scores[best]), 4)


def classify(match: Match) -> str:
    """What the duplicates endpoint and panel call a match."""
    return EXACT if match.tier == EXACT else NEAR


# ---------------------------------------------------------------------------- the whole collection


_SCAN_BATCH = 500


def all_copies(progress: Callable[[int], None] | None = None) -> Iterator[Match]:
    """Every copy pair of the indexed collection, each once (query_id < other_id): exact twins
    (each linked to the first of its bytes: groups are transitive), every pair whose hashes meet
    (an exact in-memory join of the hashes in the database, `search.query.variant_join`: each image's
    turns and flips against every other's stored variants, which sees both ends of every pair that
    `copies_of` links at upload), and the clip tier where it is on. `progress(n)`: n more
    images scanned."""
    from .variant_join import near_pairs  # faiss is only loaded by a whole-collection scan

    indexed = Image.objects.filter(status=Image.Status.INDEXED)
    shared = indexed.values("sha256").annotate(n=Count("pk")).filter(n__gt=1).values_list("sha256", flat=True)
    first: dict[str, int] = {}
    for pk, sha in indexed.filter(sha256__in=shared).order_by("sha256", "pk").values_list("pk", "sha256"):
        if sha in first:
            yield Match(first[sha], pk, EXACT, 0, 1.0, "sha256")
        else:
            first[sha] = pk
    pairs = near_pairs(
        settings.PDQ_MATCH_DISTANCE, min_quality=settings.PDQ_MIN_QUALITY, limit=NEIGHBOURS, progress=progress
    )
    for pair in pairs.values():
        yield Match(pair.a, pair.b, PDQ, pair.distance, None, pair.variant)
    if semantic_enabled():
        ids = list(indexed.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), _SCAN_BATCH):
            batch = Image.objects.filter(pk__in=ids[start : start + _SCAN_BATCH])
            floor = near_duplicate_score(switching.active_model_or_current())
            for a, b, score in _embedding_neighbours(batch, floor, NEIGHBOURS):
                yield Match(min(a, b), max(a, b), CLIP, None, score, "clip")


# ---------------------------------------------------------------------------- collapsing results


_BLOCK = 256  # rows compared with all earlier ones at once: at most 256 x 2,000 x 4 words


def earlier_copies(hashes: list[tuple[str, int | None]]) -> dict[int, list[int]]:
    """For each position whose plain PDQ hash is strong, the earlier positions within the match
    distance, in order: every pair of a result list compared in a few numpy steps (blocks bound
    the memory). Search collapses copies with it; only the plain hashes are read (joined to the
    candidates' query: `search.models.with_plain_hash`), so a search page costs no look-up per result."""
    hashed = [i for i, (pdq_hash, quality) in enumerate(hashes) if pdq_hash and variants.strong(quality)]
    if len(hashed) < 2:
        return {}
    words = np.frombuffer(bytes.fromhex("".join(hashes[i][0] for i in hashed)), dtype=">u8")
    words = words.astype(np.uint64).reshape(len(hashed), 4)
    found: dict[int, list[int]] = {}
    for start in range(0, len(hashed), _BLOCK):
        block = words[start : start + _BLOCK]
        near = np.bitwise_count(block[:, None, :] ^ words[None, : start + len(block), :]).sum(axis=2)
        near = near <= settings.PDQ_MATCH_DISTANCE
        near &= np.arange(start + len(block))[None, :] < np.arange(start, start + len(block))[:, None]
        for a, b in zip(*np.nonzero(near), strict=True):
            found.setdefault(hashed[start + int(a)], []).append(hashed[int(b)])
    return found
