"""The query path's cost and shape: a constant number of database queries per page, the vector
side beside the keyword side, and search results' JSON built without DRF's field machinery but
equal to what the serializer gives."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIRequestFactory

from ingestion.access import MODERATORS_GROUP
from ingestion.models import Image, Tag
from search import index, vectors
from search.models import HashVariant
from search.query import keywords, service
from search.query.queries import BadQuery, QueryVector
from search.query.query_language import parse
from search.query.service import SearchParams, run_search, search
from search.serializers import SearchResultSerializer, results_context, results_json
from search.variants import PLAIN
from tests.factories import make_user, read_words

pytestmark = pytest.mark.django_db
DIM = 16


def _vector(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def library(clean_index) -> dict:
    """60 indexed images with two tags each; every title holds "harbour", so the keyword side and
    the vector side both find more than a page of 50."""
    owner, viewer = make_user("owner"), make_user("viewer")
    tags = [Tag.objects.create(name=f"tag{i}") for i in range(4)]
    rows = []
    for i in range(60):
        image = Image(
            owner=owner,
            title=f"harbour {i}",
            original=f"x/{i}.jpg",
            thumbnail=f"x/{i}.webp" if i % 2 else "",
            original_filename=f"IMG_{i}.jpg",
            format="JPEG",
            size_bytes=1,
            width=640,
            height=480,
            sha256=f"{i:064x}",
            status=Image.Status.INDEXED,
            taken_at=datetime(2024, 5, 1, tzinfo=UTC) if i % 4 == 0 else None,
        )
        rows.append(image)
    images = Image.objects.bulk_create(rows)
    vectors.store("test-model", {image.pk: _vector(i) for i, image in enumerate(images)})
    for i, image in enumerate(images):
        image.tags.set([tags[i % 4], tags[(i + 1) % 4]])
        if i % 3 == 0:
            read_words(image, "harbour street")
    # Their own PDQ hashes (random: no two are copies), but none yet for every fifth.
    rng = np.random.default_rng(7)
    HashVariant.objects.bulk_create(
        HashVariant(image=image, kind=PLAIN, pdq_hash=rng.bytes(32).hex(), quality=50 + i % 50)
        for i, image in enumerate(images)
        if i % 5
    )
    index.publish(images)
    return {"owner": owner, "viewer": viewer, "images": images}


def embed_as(seed: int):
    """The query's vector without a query worker (it runs in the search's vector-side thread)."""
    return lambda query, user, example: QueryVector("test-model", _vector(seed))


def request_for(user):
    request = APIRequestFactory().get("/api/search/", HTTP_HOST="testserver.example")
    request.user = user
    return request


def test_a_page_costs_the_same_few_queries_at_5_and_50_results(library: dict, settings) -> None:
    settings.ALLOWED_HOSTS = ["testserver.example"]
    viewer = library["viewer"]
    query = parse("harbour")
    search(query, viewer, SearchParams(limit=5), embed=embed_as(1))  # the viewer's role, once a request
    counts = {}
    for limit in (5, 50):
        with CaptureQueriesContext(connection) as queries:
            results, _ = search(query, viewer, SearchParams(limit=limit), embed=embed_as(1))
            body = results_json(results, request_for(viewer))
        assert len(body) == limit and all(len(r["tags"]) == 2 for r in body)
        counts[limit] = len(queries.captured_queries)
    # The keyword side (one per term, words included), the candidates' filters and stored vectors
    # (one), the page's rows with owners and vectors (one) and its tags (one), and for the JSON's
    # `embedding_model` the active model (one) and which images have its vector (one): never a
    # query per result.
    assert counts == {5: 6, 50: 6}, counts


def test_the_vector_side_runs_beside_the_keyword_side(library: dict, monkeypatch) -> None:
    """The query worker's round trip and Milvus overlap the database work, instead of following it."""
    keyword_side_started = threading.Event()
    real_search = keywords.search

    def keyword_side(*args, **kwargs):
        keyword_side_started.set()
        return real_search(*args, **kwargs)

    def embed(query, user, example):
        # Answered only once the keyword side has begun: run one after the other, this would wait
        # its whole timeout and the assertion below would fail.
        assert keyword_side_started.wait(timeout=60)  # a guard against a hang, not a speed bound
        assert threading.current_thread() is not threading.main_thread()
        return QueryVector("test-model", _vector(3))

    monkeypatch.setattr(keywords, "search", keyword_side)
    results, model = search(parse("harbour"), library["viewer"], SearchParams(limit=10), embed=embed)
    assert model == "test-model" and len(results) == 10
    assert results[0].matches[0] == "semantic" or "title" in results[0].matches


def test_a_bad_image_term_is_refused_before_any_embedding(library: dict) -> None:
    calls = []
    with pytest.raises(BadQuery, match="not an image you can see"):
        search(parse("harbour + image:999999"), library["viewer"], SearchParams(), embed=calls.append)
    assert calls == []


@pytest.mark.parametrize("who", ["anonymous", "viewer", "owner", "moderator"])
def test_results_json_is_what_the_serializer_gives(library: dict, settings, who: str) -> None:
    settings.ALLOWED_HOSTS = ["testserver.example"]
    users = {"anonymous": AnonymousUser(), "viewer": library["viewer"], "owner": library["owner"]}
    if who == "moderator":
        users["moderator"] = make_user("mod")
        users["moderator"].groups.add(Group.objects.get_or_create(name=MODERATORS_GROUP)[0])
    user = users[who]
    Image.objects.filter(pk=library["images"][7].pk).update(
        moderation_reason="looked at", indexed_at=datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
    )
    results, _ = search(parse("harbour"), user, SearchParams(limit=12), embed=embed_as(5))
    results = [replace(r, copies=(1, 2)) if i == 2 else r for i, r in enumerate(results)]
    assert len(results) == 12
    request = request_for(user)
    expected = SearchResultSerializer(
        [r.image for r in results], many=True, context=results_context(results, request)
    ).data
    got = results_json(results, request)
    assert got == [dict(row) for row in expected]
    assert [list(row) for row in got] == [list(row) for row in expected]  # the same key order
    assert ("moderation" in got[0]) == (who in ("owner", "moderator"))


@pytest.mark.parametrize("collapse", [True, False], ids=["ranked-in-the-database", "paged-in-milvus"])
def test_results_carry_the_images_own_pdq_hash(library: dict, settings, collapse: bool) -> None:
    """Both ways a vector search reads its page give the plain variant's hash, as the image API does."""
    settings.ALLOWED_HOSTS = ["testserver.example"]
    viewer = library["viewer"]
    results = run_search(
        QueryVector("test-model", _vector(2)), viewer, SearchParams(limit=20, collapse=collapse)
    )
    assert len(results) == 20
    plain = {
        pk: (pdq, quality)
        for pk, pdq, quality in HashVariant.objects.filter(kind=PLAIN).values_list(
            "image_id", "pdq_hash", "quality"
        )
    }
    got = {
        row["id"]: (row["pdq_hash"], row["pdq_quality"]) for row in results_json(results, request_for(viewer))
    }
    assert got == {pk: plain.get(pk, ("", None)) for pk in got}
    assert ("", None) in got.values() and len(set(got.values())) > 2  # hashed and not yet hashed


def _candidate(pk: int, pdq: str, sha: str = "") -> service._Candidate:
    return service._Candidate(pk, sha or f"{pk:064x}", pdq, 100, None, 1.0, ("semantic",))


def test_collapse_keeps_the_best_ranked_copy_and_trusts_no_weak_hash() -> None:
    rng = np.random.default_rng(1)
    strong, other = (rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(2))
    best, unrelated = _candidate(1, strong), _candidate(3, other)
    same_bytes = _candidate(2, "", sha=best.sha256)
    kept = service._collapse([best, same_bytes, unrelated])
    assert [(row.pk, row.copies) for row in kept] == [(1, (2,)), (3, ())]
    reencoded = _candidate(2, strong)  # other bytes, the same PDQ hash
    assert service._collapse([best, reencoded, unrelated])[0].copies == (2,)
    weak = replace(best, pdq_quality=10)  # a weak hash proves nothing
    assert len(service._collapse([weak, reencoded, unrelated])) == 3


def test_near_copies_collapse_into_the_best_ranked_kept_copy() -> None:
    """More candidates than one comparison block; the first is a copy of a later one's original."""
    rng = np.random.default_rng(0)
    hashes = [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(300)]
    flipped = hashes[5].copy()
    flipped[:3] ^= 0xFF  # 24 bits away: a near copy
    chained = flipped.copy()
    chained[3:5] ^= 0xFF  # 16 more bits: near the copy, not near the original
    hashes[290], hashes[295] = flipped, chained
    rows = [_candidate(i, h.tobytes().hex()) for i, h in enumerate(hashes)]
    rows.append(_candidate(300, "", sha=rows[7].sha256))  # same bytes as row 7, no hash
    kept = service._collapse(rows)
    by_pk = {row.pk: row for row in kept}
    assert by_pk[5].copies == (290,) and by_pk[7].copies == (300,)
    # 295 is near 290 only, which was merged away: it stays (copies are judged against kept rows).
    assert 295 in by_pk and 290 not in by_pk and 300 not in by_pk
    assert [row.pk for row in kept] == [i for i in range(300) if i != 290]
