"""Search: a parsed query -> the keyword side (database) and the vector side (Milvus) under the same
visibility filters -> fused (RRF) -> duplicates collapsed -> sorted -> one page of rows hydrated
from the database in order."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from ingestion.access import visible_images
from ingestion.models import Image

from . import keywords, queries
from .fusion import Fused, fuse
from .index import embedding_store
from .queries import BadQuery, QueryVector
from .query_language import Query
from .vector_store import Hit, SearchFilter

SORTS = ("relevance", "date")
MODES = ("hybrid", "semantic", "text")


@dataclass(frozen=True)
class SearchParams:
    limit: int = 50
    offset: int = 0
    min_score: float | None = None
    sort: str = "relevance"
    mode: str = "hybrid"
    owner_id: int | None = None
    visibility: str | None = None
    created_after: int | None = None  # epoch seconds, inclusive
    created_before: int | None = None
    tags: tuple[str, ...] = ()  # every one of them
    has_text: bool | None = None  # words were read inside the image (OCR)
    collapse: bool = True  # exact and near duplicates shown once, with their count
    exclude_ids: tuple[int, ...] = field(default_factory=tuple)
    no_match: bool = False  # e.g. an unknown owner: the answer is empty without asking Milvus

    @property
    def database_only_filters(self) -> bool:
        """Filters Milvus cannot apply: its candidates are filtered afterwards."""
        return bool(self.tags) or self.has_text is not None


@dataclass(frozen=True)
class Result:
    image: Image
    score: float
    matches: tuple[str, ...] = ()
    copies: tuple[int, ...] = ()  # ids of the duplicates collapsed into this result


def search_filter(user, params: SearchParams) -> SearchFilter:
    return SearchFilter(
        viewer_id=user.pk if user.is_authenticated else None,
        owner_id=params.owner_id,
        visibility=params.visibility,
        created_after=params.created_after,
        created_before=params.created_before,
        exclude_ids=params.exclude_ids,
    )


def candidates(user, params: SearchParams) -> QuerySet[Image]:
    """Every image a search may show `user`: the one visibility rule plus every filter. Both sides
    of a search are restricted to these rows."""
    images = visible_images(user).filter(status=Image.Status.INDEXED)
    if params.owner_id is not None:
        images = images.filter(owner_id=params.owner_id)
    if params.visibility is not None:
        images = images.filter(visibility=params.visibility)
    if params.created_after is not None:
        images = images.filter(created_at__gte=_moment(params.created_after))
    if params.created_before is not None:
        images = images.filter(created_at__lte=_moment(params.created_before, end=True))
    for tag in params.tags:
        images = images.filter(tags__name=tag)
    if params.has_text is not None:
        images = images.exclude(ocr_text="") if params.has_text else images.filter(ocr_text="")
    if params.exclude_ids:
        images = images.exclude(pk__in=params.exclude_ids)
    return images


def _moment(epoch: int, end: bool = False) -> datetime:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.replace(microsecond=999999) if end else moment


def hydrate(hits: list[Hit], user) -> list[Result]:
    """Rows in hit order; vectors whose rows are gone or hidden are dropped."""
    rows = visible_images(user).filter(pk__in=[hit.id for hit in hits], status=Image.Status.INDEXED)
    by_id = {row.pk: row for row in rows}
    return [Result(by_id[hit.id], hit.score, ("semantic",)) for hit in hits if hit.id in by_id]


def _window(params: SearchParams) -> int:
    """How many candidates each side ranks: the requested page (and some, for collapsed copies),
    or for sort=date the whole result set, which is then ordered by date and paged."""
    if params.sort == "date":
        return max(settings.SEARCH_SORT_WINDOW, params.offset + params.limit)
    return params.offset + 2 * params.limit


def _vector_hits(query: QueryVector, user, params: SearchParams, window: int) -> list[Hit]:
    if params.no_match:
        return []
    if params.database_only_filters:
        window = min(4 * window, 16_000)  # candidates are filtered by tags / text afterwards
    return embedding_store(query.model_id, query.dim).search(
        query.vector, limit=window, offset=0, filter=search_filter(user, params), min_score=params.min_score
    )


def run_search(query: QueryVector, user, params: SearchParams) -> list[Result]:
    """The vector side alone (similar images, and the API's semantic mode with no words)."""
    if params.no_match:
        return []
    if params.sort == "date" or params.database_only_filters:
        results = _finish(fuse([], _vector_hits(query, user, params, _window(params))), user, params, query)
        return results[params.offset : params.offset + params.limit]
    hits = embedding_store(query.model_id, query.dim).search(
        query.vector,
        limit=params.limit,
        offset=params.offset,
        filter=search_filter(user, params),
        min_score=params.min_score,
    )
    return hydrate(hits, user)


def search(
    query: Query, user, params: SearchParams, example: bytes | None = None
) -> tuple[list[Result], str]:
    """One page of results for a parsed query (and an optional uploaded example image), and the
    model that embedded it ("" when no embedding was needed)."""
    if params.mode == "text" and (query.image_terms or example is not None):
        raise BadQuery("Example images (image:ID or an upload) need mode=hybrid or mode=semantic.")
    if params.mode == "text" and not any(t.words() for t in query.positive_text_terms):
        raise BadQuery("mode=text needs words to look for.")
    # The examples themselves are not results ("more like this" shows other images).
    params = replace(params, exclude_ids=(*params.exclude_ids, *query.image_ids))
    if params.no_match:
        queries.example_vectors(query, user)  # still refuse an invisible image:ID
        return [], ""
    window = _window(params)
    keyword_hits = []
    if params.mode != "semantic":
        keyword_hits = keywords.search(query, candidates(user, params), window)
    vector: QueryVector | None = None
    vector_hits: list[Hit] = []
    if params.mode != "text":
        vector = queries.query_vector(query, user, example)
        vector_hits = _vector_hits(vector, user, params, window)
    results = _finish(fuse(keyword_hits, vector_hits), user, params, vector)
    return results[params.offset : params.offset + params.limit], vector.model_id if vector else ""


def _finish(fused: list[Fused], user, params: SearchParams, vector: QueryVector | None) -> list[Result]:
    """Hydrate the fused candidates (re-checking every filter), score, collapse copies, sort."""
    rows = {row.pk: row for row in candidates(user, params).filter(pk__in=[f.image_id for f in fused])}
    entries = [f for f in fused if f.image_id in rows]
    top_keyword = max((f.keyword.score for f in entries if f.keyword), default=1.0) or 1.0
    results: list[Result] = []
    for entry in entries:
        image = rows[entry.image_id]
        score = entry.vector_score
        if score is None and vector is not None:
            score = _cosine(vector, image)
        if score is None:  # text mode: the keyword score, relative to the best
            score = entry.keyword.score / top_keyword if entry.keyword else 0.0
        results.append(Result(image, float(score), tuple(entry.matches)))
    if params.collapse:
        results = collapse(results)
    if params.sort == "date":
        results.sort(key=lambda r: (r.image.created_at, r.image.pk), reverse=True)
    return results


def _cosine(query: QueryVector, image: Image) -> float | None:
    vector = image.embedding_vector()
    if vector is None or image.embedding_model != query.model_id or vector.shape != query.vector.shape:
        return None
    norm = float(np.linalg.norm(vector)) or 1.0
    return float(np.dot(query.vector, vector) / norm)


def _pdq_words(result: Result) -> np.ndarray | None:
    """The PDQ hash as four 64-bit words, or None when it is missing or too weak to compare."""
    image = result.image
    if not image.pdq_hash or (image.pdq_quality or 0) < settings.PDQ_MIN_QUALITY:
        return None
    return np.frombuffer(bytes.fromhex(image.pdq_hash), dtype=">u8").astype(np.uint64)


def collapse(results: list[Result]) -> list[Result]:
    """Exact copies (same SHA-256) and near copies (PDQ hashes within the match distance, as the
    duplicates view judges re-encodes and resizes) are shown once, at the best-ranked copy's place,
    with the others' ids. Embedding similarity alone is not used: under a weak model unrelated
    pictures score above any "near" threshold."""
    kept: list[int] = []
    copies: dict[int, list[int]] = {}
    by_sha: dict[str, int] = {}
    hashes: list[np.ndarray] = []
    hash_owner: list[int] = []
    for i, result in enumerate(results):
        slot = by_sha.get(result.image.sha256)
        words = _pdq_words(result)
        if slot is None and words is not None and hashes:
            distances = np.bitwise_count(np.stack(hashes) ^ words).sum(axis=1)
            close = np.flatnonzero(distances <= settings.PDQ_MATCH_DISTANCE)
            if len(close):
                slot = hash_owner[int(close[0])]
        if slot is None:
            kept.append(i)
            copies[i] = []
            by_sha[result.image.sha256] = i
            if words is not None:
                hashes.append(words)
                hash_owner.append(i)
        else:
            copies[slot].append(result.image.pk)
    return [replace(results[i], copies=tuple(copies[i])) if copies[i] else results[i] for i in kept]


def similar_to(image: Image, user, params: SearchParams) -> list[Result]:
    """Neighbours of a stored image from its stored vector: no re-encoding."""
    vector = image.embedding_vector()
    if vector is None:
        raise BadQuery("This image is not indexed yet, so it has no neighbours to show.")
    params = replace(params, exclude_ids=(*params.exclude_ids, image.pk))
    return run_search(QueryVector(image.embedding_model, vector), user, params)
