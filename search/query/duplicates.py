"""Duplicates of one image, as its page and `GET /api/images/{id}/duplicates/` show them: the
judgement is `search.query.copies` (the one the moderation queue uses), limited to what the viewer may
see, plus the weaker `similar` tier where the model can judge."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingestion.filters import ImageFilter
from ingestion.models import Image

from ..engines.encoder.families import duplicate_min_score
from ..engines.vector_store import SearchFilter
from ..pipeline import switching
from . import copies

EXACT, NEAR, SIMILAR = copies.EXACT, copies.NEAR, copies.SIMILAR
_RANK = {EXACT: 0, NEAR: 1, SIMILAR: 2}


@dataclass(frozen=True)
class Duplicate:
    image: Image
    score: float
    pdq_distance: int | None
    kind: str
    variant: str = ""  # which hashes met ("mirror~plain"), "sha256" or "clip"


def _cosine(stored: dict[int, np.ndarray], a: int, b: int) -> float:
    """CLIP similarity from the stored vectors of the active model (0 where one has none)."""
    va, vb = stored.get(a), stored.get(b)
    if va is None or vb is None or va.shape != vb.shape:
        return 0.0
    return float(np.dot(va, vb))


def find_duplicates(image: Image, user, min_score: float | None = None, limit: int = 100) -> list[Duplicate]:
    """Images the viewer may see that duplicate `image`: exact copies first, then near copies by
    PDQ distance, then (where the model can judge) similar images by score."""
    floor = duplicate_min_score(switching.active_model_id()) if min_score is None else min_score
    # What the viewer's listings show, on both sides (the database's pool, Milvus's filter).
    seen = ImageFilter(status=Image.Status.INDEXED).seen_by(user)
    pool = Image.objects.filter(seen.as_q()).exclude(pk=image.pk).prefetch_related("tags")
    viewer = SearchFilter(**seen.vector_terms())
    source = Image.objects.prefetch_related("hash_variants").get(pk=image.pk)
    matches = copies.copies_of(
        [source], among=pool, search_filter=viewer, neighbours=max(limit, copies.NEIGHBOURS)
    )[image.pk]
    scores = {m.other_id: m.score for m in matches.values() if m.score is not None}
    for other_id, score in copies.similar_neighbours(source, limit, floor, viewer):
        scores.setdefault(other_id, score)
    shown = {i.pk: i for i in pool.filter(pk__in=set(matches) | set(scores)).select_related("owner")}
    unscored = [pk for pk in shown if pk in matches and pk not in scores]
    stored = switching.active_vectors([image.pk, *unscored])[1] if unscored else {}
    found = []
    for other_id, other in shown.items():
        match = matches.get(other_id)
        if match is None:
            found.append(Duplicate(other, scores[other_id], None, SIMILAR, "clip"))
            continue
        cosine = scores[other_id] if other_id in scores else _cosine(stored, image.pk, other_id)
        score = 1.0 if match.tier == copies.EXACT else cosine
        found.append(Duplicate(other, score, match.distance, copies.classify(match), match.variant))
    order = lambda d: (_RANK[d.kind], d.pdq_distance or 0, -d.score, d.image.pk)  # noqa: E731
    return sorted(found, key=order)[:limit]
