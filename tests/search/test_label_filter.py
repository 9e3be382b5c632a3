"""`label=<slug>` (issue 21): searches keep the images the model labelled so, on the keyword side,
on the vector side (Milvus cannot apply it: its candidates are filtered in the database) and on
the page; an unknown slug is a 400 naming it; with labels off, a 400 with the reason."""

from __future__ import annotations

import pytest

from ingestion.models import Image
from search.models import SuggestedLabel
from tests.factories import api_client, index, make_image, make_user, noise_png, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _labels_on(settings):
    settings.LABELS = "on"


def label(image: Image, slug: str, score: float = 0.3) -> None:
    SuggestedLabel.objects.create(image=image, label=slug, score=score)


def indexed(owner, title: str, **kwargs) -> Image:
    image = make_image(owner, title=title, data=noise_png(), **kwargs)  # no two are copies
    Image.objects.filter(pk=image.pk).update(status=Image.Status.INDEXED)
    return image


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return sorted(r["id"] for r in response.json()["results"])


def test_the_api_search_keeps_the_labelled_images() -> None:
    alice = make_user()
    cat, dog, both = indexed(alice, "pet one"), indexed(alice, "pet two"), indexed(alice, "pet three")
    label(cat, "cat"), label(dog, "dog"), label(both, "cat"), label(both, "dog")
    client = api_client(alice)
    assert ids(client.get("/api/search/", {"q": "pet", "mode": "text"})) == sorted([cat.pk, dog.pk, both.pk])
    assert ids(client.get("/api/search/", {"q": "pet", "mode": "text", "label": "cat"})) == sorted(
        [cat.pk, both.pk]
    )
    assert ids(client.get("/api/search/", {"q": "pet", "mode": "text", "label": "Dog "})) == sorted(
        [dog.pk, both.pk]
    )
    assert ids(client.get("/api/search/", {"q": "pet", "mode": "text", "label": "beach"})) == []


def test_the_label_filter_never_widens_what_a_viewer_may_list() -> None:
    alice, bob = make_user("alice"), make_user("bob")
    hers = indexed(alice, "pet private", visibility=Image.Visibility.PRIVATE)
    label(hers, "cat")
    assert ids(api_client(bob).get("/api/search/", {"q": "pet", "mode": "text", "label": "cat"})) == []
    assert ids(api_client().get("/api/search/", {"q": "pet", "mode": "text", "label": "cat"})) == []
    assert ids(api_client(alice).get("/api/search/", {"q": "pet", "mode": "text", "label": "cat"})) == [
        hers.pk
    ]


@pytest.mark.usefixtures("clean_index")
def test_the_vector_side_is_filtered_by_label_too() -> None:
    alice = make_user()
    source, cat, other = (make_image(alice, kind, color=c) for kind, c in (
        ("circle", (200, 30, 30)), ("square", (30, 200, 30)), ("triangle", (30, 30, 200))
    ))  # fmt: skip
    index(source, cat, other)
    label(cat, "cat")
    client = api_client(alice)
    assert ids(client.get(f"/api/images/{source.pk}/similar/")) == sorted([cat.pk, other.pk])
    assert ids(client.get(f"/api/images/{source.pk}/similar/", {"label": "cat"})) == [cat.pk]
    assert ids(client.get(f"/api/images/{source.pk}/similar/", {"label": "cat", "collapse": "false"})) == [
        cat.pk
    ]


@pytest.mark.parametrize("value", ["no-such-label", "x" * 65, "cat; drop"])
def test_an_unknown_label_is_a_400_naming_it(value) -> None:
    response = api_client().get("/api/search/", {"q": "pet", "label": value})
    assert response.status_code == 400
    assert "label" in response.json()["error"]


def test_with_labels_off_the_filter_says_why(settings) -> None:
    settings.LABELS = "auto"  # the demo model
    response = api_client().get("/api/search/", {"q": "pet", "mode": "text", "label": "cat"})
    assert response.status_code == 400
    assert "demo model has random weights" in response.json()["error"]


def test_the_page_filters_by_label_and_shows_it() -> None:
    alice = make_user()
    cat, dog = indexed(alice, "pet one"), indexed(alice, "pet two")
    label(cat, "cat"), label(dog, "dog")
    response = signed_in(alice).get("/search/", {"q": "pet", "mode": "text", "label": "cat"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f"/images/{cat.pk}/" in html and f"/images/{dog.pk}/" not in html
    assert 'data-filter="label"' in html  # the chip, which removes the filter
    assert 'name="label" form="site-search" value="cat"' in html  # kept by the next search from the box
    chinese = signed_in(alice).get(
        "/search/", {"q": "pet", "mode": "text", "label": "cat"}, HTTP_ACCEPT_LANGUAGE="zh-Hans"
    )
    assert "猫" in chinese.content.decode()
