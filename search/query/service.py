"""Search: a parsed query -> the keyword side (database) and the vector side (Milvus) under the same
visibility filters -> fused (RRF) -> duplicates collapsed -> sorted -> one page of rows hydrated
from the database in order."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

import numpy as np
from django.conf import settings
from django.db.models import F, QuerySet
from django.utils.translation import gettext

from ingestion.access import listed_images
from ingestion.filters import ImageFilter
from ingestion.models import Image, Tag

from .. import vectors
from ..engines.encoder.families import language_hint, search_min_score
from ..engines.vector_store import Hit, SearchFilter
from ..index import embedding_store
from ..models import with_plain_hash
from ..pipeline import switching
from . import copies, keywords, queries
from .fusion import Fused, fuse
from .queries import BadQuery, QueryVector
from .query_language import Query

SORTS = ("relevance", "date")
MODES = ("hybrid", "semantic", "text")


@dataclass(frozen=True)
class SearchParams:
    limit: int = 50
    offset: int = 0
    min_score: float | None = None
    sort: str = "relevance"
    mode: str = "hybrid"
    collapse: bool = True  # exact and near duplicates shown once, with their count
    # Every filter (owner, visibility, dates, tags, words read, withheld images, excluded ids):
    # the one filter object, which both sides render (`scope`).
    filters: ImageFilter = field(default_factory=ImageFilter)

    @property
    def no_match(self) -> bool:
        """E.g. an unknown owner: the answer is empty without asking Milvus."""
        return self.filters.matches_nothing

    def excluding(self, ids: tuple[int, ...] | list[int]) -> SearchParams:
        return replace(self, filters=self.filters.excluding(ids))


@dataclass(frozen=True)
class Result:
    image: Image
    score: float
    matches: tuple[str, ...] = ()
    copies: tuple[int, ...] = ()  # ids of the duplicates collapsed into this result
    # What placed it (`fusion.Fused.ranked_by`) and that signal's score, which follows the order;
    # `score` stays the cosine with the query (the API's), which a fused order does not follow.
    ranked_by: str = "semantic"
    rank_score: float | None = None
    # The image's own PDQ hash (its plain variant), read with the candidates: "" until hashed.
    pdq_hash: str = ""
    pdq_quality: int | None = None


@dataclass(frozen=True)
class Note:
    """Something the searcher should know about how the query was read (page and API)."""

    code: str  # "truncated": longer than the model reads; "language": a language it cannot read
    message: str
    model: str = ""  # for "language": the model to choose


@dataclass(frozen=True)
class Answer:
    results: list[Result]
    model_id: str  # "" when no embedding was needed
    notes: tuple[Note, ...] = ()


def query_notes(query: Query, vector: QueryVector | None) -> tuple[Note, ...]:
    """A cut query says where it was cut; a Chinese query to a model that reads English only names
    the model to choose instead of leaving the searcher with poor results."""
    notes = [
        Note(
            "truncated",
            gettext(
                "This query is longer than the model reads: it used the first %(read)d of %(total)d "
                'characters ("%(kept)s").'
            )
            % {"read": read, "total": len(text), "kept": text[:read]},
        )
        for text, read in (vector.cut if vector else ())
    ]
    model_id = vector.model_id if vector else switching.active_model_or_current()
    words = " ".join(t.text for t in query.text_terms)
    hint = language_hint(words, model_id)
    if hint:
        notes.append(Note(hint["code"], hint["message"], hint["model"]))
    return tuple(notes)


def scope(user, params: SearchParams) -> ImageFilter:
    """The search's filter as `user` sees it: their listing rule, among indexed images."""
    return replace(params.filters.seen_by(user), status=Image.Status.INDEXED)


def search_filter(seen: ImageFilter) -> SearchFilter:
    """The vector side's filter: the same filter rendered for Milvus."""
    return SearchFilter(**seen.vector_terms())


# A search among withheld images names them to Milvus one by one: the newest this many.
HIDDEN_SEARCH_MAX = 5000


def hidden_ids(user) -> tuple[int, ...]:
    """The indexed withheld images `user` may list (their own; moderators: public ones too)."""
    images = listed_images(user, hidden=True).filter(status=Image.Status.INDEXED).order_by("-pk")
    return tuple(images.values_list("pk", flat=True)[:HIDDEN_SEARCH_MAX])


def candidates(user, params: SearchParams) -> QuerySet[Image]:
    """Every image a search may show `user`: the one visibility rule plus every filter. Both sides
    of a search are restricted to these rows."""
    return Image.objects.filter(scope(user, params).as_q())


# Loaded with a result's image: its owner's name and the words read in it (`image.ocr_run.text`,
# shown by the JSON and the results page), in the same query.
RESULT_RELATIONS = ("owner", "ocr_run")


def hydrate(hits: list[Hit], user, params: SearchParams) -> list[Result]:
    """Rows in hit order; vectors whose rows are gone, hidden or filtered out are dropped."""
    rows = candidates(user, params).filter(pk__in=[hit.id for hit in hits]).select_related(*RESULT_RELATIONS)
    by_id = {row.pk: row for row in with_plain_hash(rows).prefetch_related("tags")}
    return [
        Result(by_id[hit.id], hit.score, ("semantic",), **_plain_of(by_id[hit.id]))
        for hit in hits
        if hit.id in by_id
    ]


def _plain_of(image: Image) -> dict:
    """A result's PDQ fields from an image read `with_plain_hash`."""
    return {"pdq_hash": image.plain_pdq_hash, "pdq_quality": image.plain_pdq_quality}


def _window(params: SearchParams) -> int:
    """How many candidates each side ranks: the requested page (and some, for collapsed copies),
    or for sort=date the whole result set, which is then ordered by date and paged."""
    if params.sort == "date":
        return max(settings.SEARCH_SORT_WINDOW, params.offset + params.limit)
    return params.offset + 2 * params.limit


def _vector_hits(query: QueryVector, seen: ImageFilter, params: SearchParams, window: int) -> list[Hit]:
    """Milvus's candidates under `seen` (the search's `scope`, built beforehand: this may run in
    another thread, which must not use the database)."""
    if seen.matches_nothing:
        return []
    if not seen.vector_exact:
        window = min(4 * window, 16_000)  # its candidates are filtered in the database afterwards
    return embedding_store(query.model_id, query.dim).search(
        query.vector, limit=window, offset=0, filter=search_filter(seen), min_score=params.min_score
    )


def run_search(query: QueryVector, user, params: SearchParams) -> list[Result]:
    """The vector side alone (similar images). Copies are collapsed, dates sorted and database
    filters applied as in `search`; with none of those it pages in Milvus directly."""
    if params.no_match:
        return []
    seen = scope(user, params)
    if params.collapse or params.sort == "date" or not seen.vector_exact:
        return _finish(fuse([], _vector_hits(query, seen, params, _window(params))), user, params, query)
    hits = embedding_store(query.model_id, query.dim).search(
        query.vector,
        limit=params.limit,
        offset=params.offset,
        filter=search_filter(seen),
        min_score=params.min_score,
    )
    return hydrate(hits, user, params)


def _embed_and_search(
    embed: Callable[[Query, object, bytes | None], QueryVector],
    query: Query,
    user,
    example: bytes | None,
    params: SearchParams,
    seen: ImageFilter,
    window: int,
) -> tuple[QueryVector, list[Hit]]:
    """The vector side: the query worker's RPC, then Milvus. No database: it runs in another thread."""
    vector = embed(query, user, example)
    # The family's own floor where the request sets none (scores spread differently per family).
    params = replace(params, min_score=search_min_score(vector.model_id, params.min_score))
    return vector, _vector_hits(vector, seen, params, window)


# The vector side waits on the query worker and Milvus while the keyword side runs in the database:
# run side by side, a hybrid search costs the longer of the two instead of their sum.
_vector_side = ThreadPoolExecutor(max_workers=8, thread_name_prefix="search-vector")


def search(
    query: Query,
    user,
    params: SearchParams,
    example: bytes | None = None,
    embed: Callable[[Query, object, bytes | None], QueryVector] | None = None,
) -> tuple[list[Result], str]:
    """One page of results for a parsed query (and an optional uploaded example image), and the
    model that embedded it ("" when no embedding was needed): `answer` without its notes."""
    found = answer(query, user, params, example, embed)
    return found.results, found.model_id


def answer(
    query: Query,
    user,
    params: SearchParams,
    example: bytes | None = None,
    embed: Callable[[Query, object, bytes | None], QueryVector] | None = None,
) -> Answer:
    """One page of results, the model that embedded the query and the notes on how it was read.
    `embed` turns the query into its vector (default: the query worker's RPC; `manage.py bench`
    embeds in-process); it runs in another thread beside the keyword side, so it must not use
    the database."""
    if params.mode == "text" and (query.image_terms or example is not None):
        raise BadQuery("Example images (image:ID or an upload) need mode=hybrid or mode=semantic.")
    if params.mode == "text" and not any(t.words() for t in query.positive_text_terms):
        raise BadQuery("mode=text needs words to look for.")
    # The examples themselves are not results ("more like this" shows other images).
    params = params.excluding(query.image_ids)
    if params.no_match:
        queries.example_vectors(query, user)  # still refuse an invisible image:ID
        return Answer([], "")
    window = _window(params)
    vector_side: Future[tuple[QueryVector, list[Hit]]] | None = None
    if params.mode != "text":
        # image:ID terms are read (and a bad one refused) here, in this thread's connection.
        examples = queries.example_vectors(query, user)
        embed = embed or partial(queries.query_vector, examples=examples)
        seen = scope(user, params)  # here: the viewer's role may need the database
        vector_side = _vector_side.submit(
            _embed_and_search, embed, query, user, example, params, seen, window
        )
    keyword_hits = []
    if params.mode != "semantic":
        keyword_hits = keywords.search(query, candidates(user, params), window)
    vector: QueryVector | None = None
    vector_hits: list[Hit] = []
    if vector_side is not None:
        vector, vector_hits = vector_side.result()
    results = _finish(fuse(keyword_hits, vector_hits), user, params, vector)
    return Answer(results, vector.model_id if vector else "", query_notes(query, vector))


@dataclass
class _Candidate:
    """What ordering a fused candidate needs, read without building model instances (a search
    ranks a few hundred candidates and shows one page of them)."""

    pk: int
    sha256: str
    pdq_hash: str  # its plain variant's ("" until hashed)
    pdq_quality: int | None
    created_at: datetime | None  # read for sort=date only
    score: float
    matches: tuple[str, ...]
    copies: tuple[int, ...] = ()


def _finish(fused: list[Fused], user, params: SearchParams, vector: QueryVector | None) -> list[Result]:
    """Re-check every filter on the fused candidates, score them, collapse copies, sort, and
    hydrate the requested page in order."""
    entries = {f.image_id: f for f in fused}
    allowed = with_plain_hash(candidates(user, params).order_by().filter(pk__in=list(entries)))
    dated = params.sort == "date"  # dates only where they order (each costs a conversion)
    fields = ("pk", "sha256", "plain_pdq_hash", "plain_pdq_quality", *(("created_at",) if dated else ()))
    meta = {row[0]: row if dated else (*row, None) for row in allowed.values_list(*fields)}
    top_keyword = (
        max((f.keyword.score for f in fused if f.keyword and f.image_id in meta), default=1.0) or 1.0
    )
    rows: list[_Candidate] = []
    for entry in fused:
        if entry.image_id not in meta:
            continue
        score = entry.vector_score
        if score is None:  # text mode: the keyword score, relative to the best
            score = entry.keyword.score / top_keyword if entry.keyword else 0.0
        rows.append(_Candidate(*meta[entry.image_id], float(score), tuple(entry.matches)))
    if params.collapse:
        rows = _collapse(rows)
    if params.sort == "date":
        rows.sort(key=lambda r: (r.created_at, r.pk), reverse=True)
    page = rows[params.offset : params.offset + params.limit]
    # `allowed` has just applied the visibility rule and every filter to these ids: load the page
    # by primary key without evaluating them again.
    rows = Image.objects.select_related(*RESULT_RELATIONS).filter(pk__in=[r.pk for r in page])
    if vector is not None:  # each row's stored vector of the query's model, in the same query
        rows = rows.annotate(stored_vector=vectors.stored_vector(vector.model_id))
    images = {i.pk: i for i in with_tags(rows)}
    results = []
    for row in page:
        image = images.get(row.pk)
        if image is None:
            continue
        score = row.score
        if vector is not None and entries[row.pk].vector_score is None:
            # Found by its words only: its cosine with the query, from the row just loaded (only
            # the page's scores are shown; ranking and collapsing never read them).
            cosine = _cosine(vector, image.stored_vector)
            score = score if cosine is None else cosine
        entry = entries[row.pk]
        results.append(
            Result(
                image,
                score,
                row.matches,
                row.copies,
                entry.ranked_by,
                entry.rank_score,
                pdq_hash=row.pdq_hash,
                pdq_quality=row.pdq_quality,
            )
        )
    return results


def with_tags(images: QuerySet[Image]) -> list[Image]:
    """The images, each with its tags (in name order) where `image.tags.all()` finds them: one query
    for all of them. Django's prefetch_related does the same with a queryset cloned and filtered
    per image, which cost a search page of 50 results 2 ms."""
    found = list(images.order_by())
    tags: dict[int, list[Tag]] = {image.pk: [] for image in found}
    if tags:
        for tag in Tag.objects.filter(images__in=list(tags)).annotate(image_pk=F("images__id")):
            tags[tag.image_pk].append(tag)
    for image in found:
        cached: QuerySet[Tag] = QuerySet(model=Tag)
        cached._result_cache = tags[image.pk]
        cached._prefetch_done = True
        image._prefetched_objects_cache = {"tags": cached}
    return found


def _cosine(query: QueryVector, blob: bytes | None) -> float | None:
    vector = vectors.as_vector(blob) if blob else None
    if vector is None or vector.shape != query.vector.shape:
        return None
    return float(np.dot(query.vector, vector) / (float(np.linalg.norm(vector)) or 1.0))


def _collapse(rows: list[_Candidate]) -> list[_Candidate]:
    """Exact copies (same SHA-256) and near copies (plain PDQ hashes within the match distance:
    `search.query.copies`, the judgement of the duplicates view) are shown once, at the best-ranked
    copy's place, with the others' ids. Embedding similarity alone is not used: under a weak model
    unrelated pictures score above any "near" threshold."""
    near = copies.earlier_copies([(row.pdq_hash, row.pdq_quality) for row in rows])
    kept: list[int] = []
    merged: dict[int, list[int]] = {}
    by_sha: dict[str, int] = {}
    for i, row in enumerate(rows):
        slot = by_sha.get(row.sha256)
        if slot is None:
            # The best-ranked kept row among the near earlier ones (merged rows are not kept).
            slot = next((j for j in near.get(i, ()) if j in merged), None)
        if slot is None:
            kept.append(i)
            merged[i] = []
            by_sha[row.sha256] = i
        else:
            merged[slot].append(row.pk)
    return [replace(rows[i], copies=tuple(merged[i])) if merged[i] else rows[i] for i in kept]


def similar_to(image: Image, user, params: SearchParams) -> list[Result]:
    """Neighbours of a stored image from its stored vector: no re-encoding."""
    model_id, stored = switching.active_vectors([image.pk])
    if image.pk not in stored:
        raise BadQuery("This image is not indexed yet, so it has no neighbours to show.")
    return run_search(QueryVector(model_id, stored[image.pk]), user, params.excluding([image.pk]))
