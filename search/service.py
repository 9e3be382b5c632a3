"""Search: a query vector plus typed filters -> Milvus -> rows hydrated from the database in order."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.dateparse import parse_date, parse_datetime

from ingestion.models import Image

from .index import store_for
from .queries import BadQuery, QueryVector
from .vector_store import SearchFilter

SORTS = ("relevance", "date")


@dataclass(frozen=True)
class SearchParams:
    limit: int = 50
    offset: int = 0
    min_score: float | None = None
    sort: str = "relevance"
    owner_id: int | None = None
    visibility: str | None = None
    created_after: int | None = None
    created_before: int | None = None
    exclude_ids: tuple[int, ...] = field(default_factory=tuple)
    no_match: bool = False  # e.g. an unknown owner: the answer is empty without asking Milvus


@dataclass(frozen=True)
class Result:
    image: Image
    score: float


def _int(params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadQuery(f"{name} must be a whole number.") from None
    if not low <= value <= high:
        raise BadQuery(f"{name} must be between {low} and {high}.")
    return value


def _timestamp(params, name: str, end_of_day: bool) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        # The date first: parse_datetime would read a bare date as midnight, losing end_of_day.
        day = parse_date(raw)
        moment = None if day else parse_datetime(raw)
    except ValueError:  # well formed but impossible, e.g. month 13
        day = moment = None
    if day is not None:
        moment = datetime.combine(day, time.max if end_of_day else time.min)
    if moment is None:
        raise BadQuery(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 date-time.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_params(params, user) -> SearchParams:
    """Turn query-string values into typed parameters, with a clear error for anything wrong."""
    limit = _int(params, "limit", settings.SEARCH_DEFAULT_LIMIT, 1, settings.SEARCH_MAX_LIMIT)
    offset = _int(params, "offset", 0, 0, 10_000)
    min_score = None
    if params.get("min_score") not in (None, ""):
        try:
            min_score = float(params["min_score"])
        except (TypeError, ValueError):
            raise BadQuery("min_score must be a number between -1 and 1.") from None
        if not -1.0 <= min_score <= 1.0:
            raise BadQuery("min_score must be a number between -1 and 1.")
    sort = params.get("sort") or "relevance"
    if sort not in SORTS:
        raise BadQuery("sort must be 'relevance' or 'date'.")
    visibility = params.get("visibility") or None
    if visibility not in (None, *Image.Visibility.values):
        raise BadQuery("visibility must be 'public' or 'private'.")
    owner_id, no_match = _owner(params.get("owner"), user)
    return SearchParams(
        limit=limit,
        offset=offset,
        min_score=min_score,
        sort=sort,
        owner_id=owner_id,
        visibility=visibility,
        created_after=_timestamp(params, "created_after", end_of_day=False),
        created_before=_timestamp(params, "created_before", end_of_day=True),
        no_match=no_match,
    )


def _owner(raw: str | None, user) -> tuple[int | None, bool]:
    if not raw:
        return None, False
    if raw == "me":
        if not user.is_authenticated:
            raise BadQuery("owner=me needs you to be signed in.")
        return user.pk, False
    owner = get_user_model().objects.filter(username=raw).only("pk").first()
    return (owner.pk, False) if owner else (None, True)


def search_filter(user, params: SearchParams) -> SearchFilter:
    return SearchFilter(
        viewer_id=user.pk if user.is_authenticated else None,
        owner_id=params.owner_id,
        visibility=params.visibility,
        created_after=params.created_after,
        created_before=params.created_before,
        exclude_ids=params.exclude_ids,
    )


def hydrate(hits, user) -> list[Result]:
    """Rows in hit order; vectors whose rows are gone or hidden are dropped."""
    ids = [hit.id for hit in hits]
    rows = (
        Image.objects.visible_to(user).filter(pk__in=ids, status=Image.Status.INDEXED).select_related("owner")
    )
    by_id = {row.pk: row for row in rows}
    return [Result(by_id[hit.id], hit.score) for hit in hits if hit.id in by_id]


def run_search(query: QueryVector, user, params: SearchParams) -> list[Result]:
    if params.no_match:
        return []
    store = store_for(query.model_id, query.dim)
    hits = store.search(
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
