"""Search: a query vector plus typed filters -> Milvus -> rows hydrated from the database in order."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ingestion.access import visible_images
from ingestion.models import Image

from .index import embedding_store
from .queries import BadQuery, QueryVector
from .vector_store import Hit, SearchFilter

SORTS = ("relevance", "date")


@dataclass(frozen=True)
class SearchParams:
    limit: int = 50
    offset: int = 0
    min_score: float | None = None
    sort: str = "relevance"
    owner_id: int | None = None
    visibility: str | None = None
    created_after: int | None = None  # epoch seconds, inclusive
    created_before: int | None = None
    exclude_ids: tuple[int, ...] = field(default_factory=tuple)
    no_match: bool = False  # e.g. an unknown owner: the answer is empty without asking Milvus


@dataclass(frozen=True)
class Result:
    image: Image
    score: float


def search_filter(user, params: SearchParams) -> SearchFilter:
    return SearchFilter(
        viewer_id=user.pk if user.is_authenticated else None,
        owner_id=params.owner_id,
        visibility=params.visibility,
        created_after=params.created_after,
        created_before=params.created_before,
        exclude_ids=params.exclude_ids,
    )


def hydrate(hits: list[Hit], user) -> list[Result]:
    """Rows in hit order; vectors whose rows are gone or hidden are dropped."""
    rows = visible_images(user).filter(pk__in=[hit.id for hit in hits], status=Image.Status.INDEXED)
    by_id = {row.pk: row for row in rows}
    return [Result(by_id[hit.id], hit.score) for hit in hits if hit.id in by_id]


def run_search(query: QueryVector, user, params: SearchParams) -> list[Result]:
    if params.no_match:
        return []
    hits = embedding_store(query.model_id, query.dim).search(
        query.vector,
        limit=params.limit,
        offset=params.offset,
        filter=search_filter(user, params),
        min_score=params.min_score,
    )
    results = hydrate(hits, user)
    if params.sort == "date":
        results.sort(key=lambda r: (r.image.created_at, r.image.pk), reverse=True)
    return results


def similar_to(image: Image, user, params: SearchParams) -> list[Result]:
    """Neighbours of a stored image from its stored vector: no re-encoding."""
    vector = image.embedding_vector()
    if vector is None:
        raise BadQuery("This image is not indexed yet, so it has no neighbours to show.")
    params = replace(params, exclude_ids=(*params.exclude_ids, image.pk))
    return run_search(QueryVector(image.embedding_model, vector), user, params)
