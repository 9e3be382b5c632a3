"""Reciprocal rank fusion (RRF, k = 60, as Weaviate, Milvus and Elasticsearch use) of the keyword
ranking and the vector ranking: score(d) = sum over rankings of 1 / (k + rank of d).

RRF alone treats rank 1 of the vector side like rank 1 of the keyword side. With a model that knows
nothing (the random demo model, or a query CLIP does not understand) the vector ranking is noise,
and noise must not push an exact word match down. So results where a whole word of the query was
found (in the title, tags, filename or OCR text) form the first tier, fused among themselves; the
rest follow in fused order."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engines.vector_store import Hit
from .keywords import KeywordHit

RRF_K = 60


@dataclass
class Fused:
    image_id: int
    rrf: float = 0.0
    keyword: KeywordHit | None = None
    vector_score: float | None = None  # cosine with the query vector, when the vector side ranked it
    keyword_rank: int | None = None
    vector_rank: int | None = None
    matches: list[str] = field(default_factory=list)
    # What placed it, for the page to show beside it: "words" (a whole word of the query, the
    # first tier), "fused" (both rankings), "keywords" (words in part, text mode) or "semantic";
    # and that signal's number, which never rises down the list within one signal.
    ranked_by: str = ""
    rank_score: float = 0.0

    @property
    def exact(self) -> bool:
        return self.keyword is not None and self.keyword.exact


def rrf(rank: int, k: int = RRF_K) -> float:
    """The contribution of a 1-based rank."""
    return 1.0 / (k + rank)


def fuse(keyword: list[KeywordHit], vector: list[Hit], k: int = RRF_K) -> list[Fused]:
    """Both rankings, best first, fused; each entry says which signals matched."""
    fused: dict[int, Fused] = {}
    for rank, hit in enumerate(keyword, start=1):
        entry = fused.setdefault(hit.image_id, Fused(hit.image_id))
        entry.keyword, entry.keyword_rank = hit, rank
        entry.rrf += rrf(rank, k)
    for rank, hit in enumerate(vector, start=1):
        entry = fused.setdefault(hit.id, Fused(hit.id))
        entry.vector_score, entry.vector_rank = hit.score, rank
        entry.rrf += rrf(rank, k)
    for entry in fused.values():
        entry.matches = (["semantic"] if entry.vector_rank is not None else []) + list(
            entry.keyword.fields if entry.keyword else ()
        )
        _explain(entry, sides=bool(keyword) + bool(vector), k=k)
    big = len(keyword) + len(vector) + 1
    return sorted(
        fused.values(),
        key=lambda e: (
            not e.exact,
            -e.rrf,
            e.keyword_rank or big,
            e.vector_rank or big,
            -e.image_id,
        ),
    )


def _explain(entry: Fused, sides: int, k: int) -> None:
    """Say which signal ranked `entry`, with a score that follows the order: the cosine where only
    the vector side ranked; else the fused RRF score scaled so that first on every side is 1.0."""
    if entry.keyword is None and sides < 2:
        entry.ranked_by, entry.rank_score = "semantic", float(entry.vector_score or 0.0)
        return
    entry.rank_score = entry.rrf * (k + 1) / max(sides, 1)
    if entry.exact:
        entry.ranked_by = "words"
    else:
        entry.ranked_by = "fused" if sides == 2 else "keywords"
