"""Duplicates of one image: exact copies (same bytes), near-duplicates and merely similar images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from ingestion.access import listed_images
from ingestion.models import Image

from .index import embedding_store, pdq_matches
from .service import hydrate
from .vector_store import SearchFilter

EXACT, NEAR, SIMILAR = "exact", "near", "similar"
_RANK = {EXACT: 0, NEAR: 1, SIMILAR: 2}


@dataclass(frozen=True)
class Duplicate:
    image: Image
    score: float
    pdq_distance: int | None
    kind: str


def pdq_distance(a: Image, b: Image) -> int | None:
    """Hamming distance of two PDQ hashes, or None when either is missing or too low in quality
    to be trusted (PDQ's quality score; HMA ignores weak hashes too)."""
    if not (a.pdq_hash and b.pdq_hash):
        return None
    if min(a.pdq_quality or 0, b.pdq_quality or 0) < settings.PDQ_MIN_QUALITY:
        return None
    return (int(a.pdq_hash, 16) ^ int(b.pdq_hash, 16)).bit_count()


def _cosine(a: Image, b: Image) -> float:
    """CLIP similarity from the stored embeddings (0 when they come from different models)."""
    va, vb = a.embedding_vector(), b.embedding_vector()
    if va is None or vb is None or a.embedding_model != b.embedding_model:
        return 0.0
    return float(np.dot(va, vb))


def classify(source: Image, other: Image, score: float) -> tuple[str, int | None]:
    distance = pdq_distance(source, other)
    if other.sha256 == source.sha256:
        return EXACT, distance
    if (distance is not None and distance <= settings.PDQ_MATCH_DISTANCE) or (
        score >= settings.NEAR_DUPLICATE_SCORE
    ):
        return NEAR, distance
    return SIMILAR, distance


def find_duplicates(image: Image, user, min_score: float | None = None, limit: int = 100) -> list[Duplicate]:
    """Images the viewer may see that duplicate `image`, exact copies first, then by score."""
    floor = settings.DUPLICATE_MIN_SCORE if min_score is None else min_score
    exact = list(listed_images(user).filter(sha256=image.sha256).exclude(pk=image.pk)[:limit])
    found = {other.pk: Duplicate(other, 1.0, pdq_distance(image, other), EXACT) for other in exact}
    viewer_id = user.pk if user.is_authenticated else None
    # PDQ catches re-encodes and resizes wherever CLIP ranks them; CLIP catches edits PDQ misses.
    if image.pdq_hash and (image.pdq_quality or 0) >= settings.PDQ_MIN_QUALITY:
        matches = pdq_matches(
            image.pdq_hash,
            settings.PDQ_MATCH_DISTANCE,
            limit,
            SearchFilter(viewer_id=viewer_id, exclude_ids=(image.pk, *found)),
        )
        rows = listed_images(user).filter(pk__in=[pk for pk, _ in matches], status=Image.Status.INDEXED)
        for other in rows:
            score = _cosine(image, other)
            kind, distance = classify(image, other, score)
            found[other.pk] = Duplicate(other, score, distance, kind)
    vector = image.embedding_vector()
    if vector is not None:
        viewer = SearchFilter(viewer_id=viewer_id, exclude_ids=(image.pk, *found))
        hits = embedding_store(image.embedding_model, len(vector)).range_search(
            vector, min_score=floor, limit=limit, filter=viewer
        )
        for result in hydrate(hits, user):
            kind, distance = classify(image, result.image, result.score)
            found[result.image.pk] = Duplicate(result.image, result.score, distance, kind)
    return sorted(found.values(), key=lambda d: (_RANK[d.kind], -d.score, d.image.pk))[:limit]
