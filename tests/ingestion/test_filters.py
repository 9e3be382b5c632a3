"""`ingestion.filters.ImageFilter`, the one filter of listings and searches: its database side
(`as_q`) and its vector side (`vector_terms`, rendered by `search.engines.vector_store.SearchFilter`) select
the same images, checked for many random filters over a varied library on Milvus Lite and on the
Milvus 2.3.5 server."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import Group as AuthGroup
from django.db.models import Q

from ingestion import filters
from ingestion.access import MODERATORS_GROUP
from ingestion.filters import UNKNOWN_OWNER, ImageFilter, VectorTerms, Viewer
from ingestion.forms import ImageListForm
from ingestion.models import Image
from search.engines.vector_store import PK, SearchFilter, VectorStore, close_client, get_client
from search.forms import SearchForm
from search.index import image_row
from search.query.service import candidates, hidden_ids
from tests.factories import draw_image, image_bytes, make_image, make_user, read_words

DIM = 4
STRONG = "Strong"  # every row just written, on the server too
TAGS = ("beach", "sunset", "cat")
BASE = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
# Upload times on whole seconds and inside seconds, so bounds fall on, just before and just after.
INSTANTS = [BASE + timedelta(seconds=s, microseconds=us) for s in (0, 1, 2, 60, 3600) for us in (0, 400_000)]


# ---------------------------------------------------------------------------- one filter, two sides


def test_vector_terms_are_search_filter_arguments() -> None:
    """The two halves of the vector side name the same things."""
    assert set(VectorTerms.__annotations__) == {f.name for f in dataclasses.fields(SearchFilter)}


def test_moments_are_whole_seconds() -> None:
    moment = datetime(2024, 3, 1, 10, 0, 0, 500_000, tzinfo=UTC)
    flt = ImageFilter(created_after=moment, created_before=moment)
    assert flt.created_after == moment.replace(microsecond=0)
    assert flt.created_before == moment.replace(microsecond=999_999)
    naive = ImageFilter(created_after=datetime(2024, 3, 1, 10))
    assert naive.created_after == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="visibility"):
        ImageFilter(visibility="secret")
    with pytest.raises(ValueError, match="viewer"):
        ImageFilter().vector_terms()
    with pytest.raises(ValueError, match="indexed"):
        ImageFilter(viewer=Viewer(), status=Image.Status.PENDING).vector_terms()
    with pytest.raises(ValueError, match="withheld_ids"):
        ImageFilter(viewer=Viewer(1), hidden=True).vector_terms()


def test_database_only_filters_are_said() -> None:
    anonymous, alice = Viewer(), Viewer(7)
    assert ImageFilter(viewer=alice, owner_id=3, created_after=BASE).vector_exact
    for database_only in ({"tags": ("cat",)}, {"has_text": False}, {"ids": (1,)}):
        assert not ImageFilter(viewer=anonymous, **database_only).vector_exact
    assert ImageFilter(viewer=anonymous, visibility="public").vector_exact
    assert not ImageFilter(viewer=alice, visibility="public").vector_exact
    assert ImageFilter(viewer=alice, visibility="private").vector_terms()["visibility"] == "private"
    assert ImageFilter(viewer=alice, visibility="public").vector_terms()["visibility"] is None
    # A withheld public image is not public to Milvus: among withheld ones the flag says nothing.
    hidden = ImageFilter(viewer=alice, hidden=True, withheld_ids=(4,), visibility="public")
    assert hidden.vector_terms()["visibility"] is None and hidden.vector_terms()["only_ids"] == (4,)


def test_unknown_owner_and_no_withheld_image_match_nothing() -> None:
    assert ImageFilter(owner_id=UNKNOWN_OWNER).matches_nothing
    assert ImageFilter(hidden=True, withheld_ids=()).matches_nothing
    assert not ImageFilter(owner_id=5).matches_nothing


@pytest.mark.django_db
def test_has_text_reads_the_words_search_keeps(monkeypatch) -> None:
    """The words live in search's OcrRun: search hands the condition down; without it (no app
    reads words) no image has any."""
    alice = make_user("alice")
    sale, blank, unread = (make_image(alice, kind) for kind in ("square", "circle", "stripes"))
    read_words(sale, "SALE")
    read_words(blank, "")  # read, no words found

    def chosen(has_text: bool) -> set[int]:
        return set(Image.objects.filter(ImageFilter(has_text=has_text).as_q()).values_list("pk", flat=True))

    assert chosen(True) == {sale.pk}
    assert chosen(False) == {blank.pk, unread.pk}
    monkeypatch.setattr(filters, "_conditions", {"has_text": filters._no_words_read})
    assert chosen(True) == set() and chosen(False) == {sale.pk, blank.pk, unread.pk}
    with pytest.raises(ValueError, match="No filter 'words'"):
        filters.provide_condition("words", lambda wanted: Q())


# ---------------------------------------------------------------------------- equal answers


@pytest.fixture(params=["lite", "server"])
def store(request, tmp_path: Path) -> Iterator[VectorStore]:
    """An empty collection on Milvus Lite (its own file) or on the session's Milvus 2.3.5 server."""
    if request.param == "lite":
        uri = str(tmp_path / "milvus.db")
        vs = VectorStore("filters_test", DIM, uri=uri)
        vs.ensure_collection()
        yield vs
        close_client(uri)
        return
    uri = request.getfixturevalue("milvus_standalone")
    vs = VectorStore(f"filters_test_{uuid.uuid4().hex[:8]}", DIM, uri=uri)
    vs.ensure_collection()
    yield vs
    get_client(uri).drop_collection(vs.name)


def library(rng: random.Random) -> dict[str, object]:
    """Three users (one a moderator) and 36 images of every kind: owners, visibility, withheld or
    not, indexed or not, words read or not, tags, upload times within and on seconds."""
    users = {name: make_user(name) for name in ("alice", "bob", "mod")}
    users["mod"].groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    data = image_bytes(draw_image("square", size=(32, 32)), "PNG")
    for i in range(36):
        image = make_image(
            list(users.values())[i % 3],
            data=data,
            tags=rng.sample(TAGS, rng.randint(0, 2)),
            visibility=rng.choice(Image.Visibility.values),
        )
        Image.objects.filter(pk=image.pk).update(
            created_at=rng.choice(INSTANTS),
            status=rng.choice([Image.Status.INDEXED] * 5 + [Image.Status.PENDING, Image.Status.FAILED]),
            moderation=Image.Moderation.HIDDEN if rng.random() < 0.3 else Image.Moderation.VISIBLE,
        )
        words = rng.choice(["", "", "SALE"])
        if words or i % 2:  # read with words, read without any, or never read
            read_words(image, words)
    return users


def random_filter(rng: random.Random, users: dict, ids: list[int]) -> tuple[object, ImageFilter]:
    viewer = rng.choice([AnonymousUser(), *users.values()])
    hidden = rng.random() < 0.25
    moment = rng.choice([None, *INSTANTS, BASE - timedelta(days=1)])
    database_only = rng.random() < 0.4  # half the time only what Milvus can say too
    return viewer, ImageFilter(
        hidden=hidden,
        owner_id=rng.choice([None, None, UNKNOWN_OWNER, *(u.pk for u in users.values())]),
        visibility=rng.choice([None, None, None, *Image.Visibility.values]),
        created_after=moment if rng.random() < 0.5 else None,
        created_before=rng.choice([None, *INSTANTS]) if rng.random() < 0.5 else None,
        tags=tuple(rng.sample(TAGS, rng.choice([0, 1, 2]))) if database_only else (),
        has_text=rng.choice([None, True, False]) if database_only else None,
        exclude_ids=tuple(rng.sample(ids, rng.choice([0, 0, 3]))),
        withheld_ids=hidden_ids(viewer) if hidden else None,
        status=Image.Status.INDEXED,
    ).seen_by(viewer)


@pytest.mark.django_db
def test_database_and_milvus_select_the_same_images(store: VectorStore) -> None:
    """For many random filters, the ids `as_q()` selects are the ids the Milvus expression selects
    where `vector_exact` says so, and never more than it (the vector side's candidates are then
    filtered in the database)."""
    rng = random.Random(18)
    users = library(rng)
    indexed = list(Image.objects.filter(status=Image.Status.INDEXED))
    vectors = np.random.default_rng(18).normal(size=(len(indexed), DIM)).astype(np.float32)
    store.upsert([image_row(image, vector) for image, vector in zip(indexed, vectors, strict=True)])
    store.flush()
    client, ids = get_client(store.uri), [image.pk for image in indexed]
    exact = wider = 0
    for _ in range(400):
        viewer, flt = random_filter(rng, users, ids)
        database = set(Image.objects.filter(flt.as_q()).values_list("pk", flat=True))
        if flt.matches_nothing:
            assert database == set(), flt
            continue
        expression = SearchFilter(**flt.vector_terms()).expression()
        rows = client.query(
            store.name, filter=expression, output_fields=[PK], limit=1000, consistency_level=STRONG
        )
        milvus = {int(row[PK]) for row in rows}
        assert database <= milvus, (flt, expression)
        if flt.vector_exact:
            assert database == milvus, (flt, expression)
            exact += 1
        wider += milvus != database
    # Both kinds were tried, and the database did narrow some vector answers.
    assert exact >= 100 and wider >= 50, (exact, wider)


@pytest.mark.django_db
def test_a_listing_and_a_search_filter_alike() -> None:
    """The gallery's filter and the search's are one object: the same images for the same
    parameters (among indexed ones)."""
    rng = random.Random(7)
    users = library(rng)
    for data in (
        {"owner": "alice", "visibility": "private"},
        {"created_after": INSTANTS[1].isoformat(), "created_before": INSTANTS[4].isoformat()},
        {"moderation": "hidden"},
        {"owner": "nobody"},
        {},
    ):
        for user in (AnonymousUser(), *users.values()):
            listed = ImageListForm({**data, "status": "indexed"}, user=user).listing()
            found = candidates(user, SearchForm(data, user=user).params())
            assert set(listed.values_list("pk", flat=True)) == set(found.values_list("pk", flat=True)), data
