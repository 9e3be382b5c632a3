"""Search service: searches over images indexed in this process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser

from ingestion.filters import ImageFilter
from ingestion.models import Image, Tag
from search.forms import SearchForm
from search.query.queries import BadQuery, QueryVector
from search.query.query_language import parse
from search.query.service import SearchParams, run_search, search, similar_to
from tests.factories import index, make_image, make_user, model_of, read_words, vector_of


@pytest.fixture(autouse=True)
def search_limits(settings) -> None:
    """The limits the messages below name, whatever the environment says."""
    settings.SEARCH_MAX_LIMIT = 200
    settings.SEARCH_DEFAULT_LIMIT = 50


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 3, day, hour, tzinfo=UTC)


# ---------------------------------------------------------------------------- run_search


@dataclass
class Indexed:
    alice: object
    bob: object
    circle: Image
    square: Image
    stripes: Image
    secret: Image  # bob's, private

    def query(self, image: Image) -> QueryVector:
        return QueryVector(model_of(image), vector_of(image))


@pytest.fixture
def indexed(db, clean_index) -> Indexed:
    alice, bob = make_user("alice"), make_user("bob")
    images = Indexed(
        alice,
        bob,
        circle=make_image(alice, "circle", created_at=at(1)),
        square=make_image(alice, "square", created_at=at(3)),
        stripes=make_image(bob, "stripes", created_at=at(2)),
        secret=make_image(bob, "triangle", visibility="private", created_at=at(4)),
    )
    index(images.circle, images.square, images.stripes, images.secret)
    return images


def ids(results) -> list[int]:
    return [r.image.pk for r in results]


def test_the_same_image_comes_first(indexed: Indexed) -> None:
    results = run_search(indexed.query(indexed.square), indexed.alice, SearchParams())
    assert results[0].image == indexed.square
    assert results[0].score == pytest.approx(1.0, abs=1e-3)
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert set(ids(results)) == {indexed.circle.pk, indexed.square.pk, indexed.stripes.pk}

    just_one = run_search(indexed.query(indexed.square), indexed.alice, SearchParams(min_score=0.999))
    assert ids(just_one) == [indexed.square.pk]
    top2 = run_search(indexed.query(indexed.square), indexed.alice, SearchParams(limit=2))
    rest = run_search(indexed.query(indexed.square), indexed.alice, SearchParams(limit=2, offset=2))
    assert ids(top2) + ids(rest) == ids(results)


def test_private_images_only_for_their_owner(indexed: Indexed) -> None:
    query = indexed.query(indexed.secret)
    for viewer in (AnonymousUser(), indexed.alice):
        assert indexed.secret.pk not in ids(run_search(query, viewer, SearchParams()))
        private = run_search(query, viewer, SearchForm({"visibility": "private"}, user=viewer).params())
        assert private == []
    own = run_search(query, indexed.bob, SearchParams())
    assert own[0].image == indexed.secret
    private = SearchForm({"visibility": "private"}, user=indexed.bob).params()
    assert ids(run_search(query, indexed.bob, private)) == [indexed.secret.pk]


def test_filters(indexed: Indexed) -> None:
    query = indexed.query(indexed.circle)
    anon = AnonymousUser()

    def search(**params) -> set[int]:
        return set(ids(run_search(query, anon, SearchForm(params, user=anon).params())))

    assert search(owner="alice") == {indexed.circle.pk, indexed.square.pk}
    assert search(owner="bob") == {indexed.stripes.pk}
    assert search(owner="nobody") == set()
    assert search(created_after="2024-03-02") == {indexed.square.pk, indexed.stripes.pk}
    assert search(created_before="2024-03-02") == {indexed.circle.pk, indexed.stripes.pk}
    assert search(created_after="2024-03-02T13:00:00Z") == {indexed.square.pk}
    assert search(visibility="public", owner="bob") == {indexed.stripes.pk}


def test_sort_by_date(indexed: Indexed) -> None:
    results = run_search(indexed.query(indexed.circle), indexed.bob, SearchParams(sort="date"))
    assert ids(results) == [indexed.secret.pk, indexed.square.pk, indexed.stripes.pk, indexed.circle.pk]


def test_rows_that_are_not_indexed_are_dropped(indexed: Indexed) -> None:
    Image.objects.filter(pk=indexed.square.pk).update(status=Image.Status.FAILED)
    Image.objects.filter(pk=indexed.stripes.pk).delete()
    results = run_search(indexed.query(indexed.square), AnonymousUser(), SearchParams())
    assert ids(results) == [indexed.circle.pk]


def test_similar_to_leaves_the_image_out(indexed: Indexed) -> None:
    results = similar_to(indexed.circle, indexed.alice, SearchParams())
    assert indexed.circle.pk not in ids(results)
    assert set(ids(results)) == {indexed.square.pk, indexed.stripes.pk}
    assert len(similar_to(indexed.circle, indexed.alice, SearchParams(limit=1))) == 1


@pytest.mark.django_db
def test_similar_to_an_unindexed_image() -> None:
    image = make_image(make_user(), "circle")
    with pytest.raises(BadQuery, match="not indexed yet"):
        similar_to(image, AnonymousUser(), SearchParams())


# ---------------------------------------------------------------------------- several signals


def test_text_mode_needs_no_model_and_respects_visibility(indexed: Indexed) -> None:
    read_words(indexed.secret, "square root")
    Image.objects.filter(pk=indexed.square.pk).update(title="a square")
    text = SearchParams(mode="text")
    results, model = search(parse("square"), indexed.alice, text)
    assert model == "" and ids(results) == [indexed.square.pk]
    assert results[0].matches == ("title", "filename") and results[0].score == pytest.approx(1.0)
    own, _ = search(parse("square"), indexed.bob, text)
    assert set(ids(own)) == {indexed.square.pk, indexed.secret.pk}
    with pytest.raises(BadQuery, match="need mode=hybrid or mode=semantic"):
        search(parse(f"square + image:{indexed.square.pk}"), indexed.alice, text)


def test_database_filters_apply_to_the_vector_side(indexed: Indexed) -> None:
    read_words(indexed.stripes, "SALE")
    indexed.circle.tags.add(Tag.objects.create(name="round"))
    query = indexed.query(indexed.square)

    def found(**filters) -> list[int]:
        return ids(run_search(query, indexed.alice, SearchParams(filters=ImageFilter(**filters))))

    assert found(has_text=True) == [indexed.stripes.pk]
    assert found(tags=("round",)) == [indexed.circle.pk]
    without = set(found(has_text=False))
    assert without == {indexed.circle.pk, indexed.square.pk}


def test_sort_by_date_pages_the_whole_set(indexed: Indexed) -> None:
    query = indexed.query(indexed.circle)
    pages = [run_search(query, indexed.bob, SearchParams(sort="date", limit=1, offset=i)) for i in range(4)]
    assert [ids(p) for p in pages] == [
        [indexed.secret.pk],
        [indexed.square.pk],
        [indexed.stripes.pk],
        [indexed.circle.pk],
    ]


def test_a_whole_word_of_a_file_name_ranks_before_a_title_that_only_contains_it(indexed: Indexed) -> None:
    """Issue 20: `coffee` ranked `coffee_crop15.jpg` behind unrelated images. Here the vector side
    puts a "coffeehouse" picture first (its own vector is the query): the file still leads."""
    Image.objects.filter(pk=indexed.square.pk).update(original_filename="coffee_crop15.jpg")
    Image.objects.filter(pk=indexed.circle.pk).update(title="coffeehouse")
    vector = indexed.query(indexed.circle)  # read here: `embed` runs in the vector side's thread
    embed = lambda query, user, example: vector  # noqa: E731
    results, _ = search(parse("coffee"), indexed.alice, SearchParams(), embed=embed)
    assert ids(results)[:2] == [indexed.square.pk, indexed.circle.pk]
    assert [r.ranked_by for r in results[:2]] == ["words", "fused"]
    assert results[0].matches[-1] == "filename"
    # The page's score follows the order within each signal; the API's stays the cosine.
    fused = [r.rank_score for r in results if r.ranked_by == "fused"]
    assert fused == sorted(fused, reverse=True)
    assert results[1].score == pytest.approx(1.0)
