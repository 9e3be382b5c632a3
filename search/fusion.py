"""Reciprocal rank fusion (RRF, k = 60, as Weaviate, Milvus and Elasticsearch use) of the keyword
ranking and the vector ranking: score(d) = sum over rankings of 1 / (k + rank of d).

RRF alone treats rank 1 of the vector side like rank 1 of the keyword side. With a model that knows
nothing (the random demo model, or a query CLIP does not understand) the vector ranking is noise,
and noise must not push an exact word match down. So results where a whole word of the query was
found (in the title, tags, filename or OCR text) form the first tier, fused among themselves; the
rest follow in fused order."""

from __future__ import annotations

from dataclasses import dataclass, field

from .keywords import KeywordHit
from .vector_store import Hit

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
