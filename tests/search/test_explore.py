"""The Explore page and `GET /api/labels/` (issue 21): suggested labels by category for whoever asks,
counting and showing only the images they may list, in their language; off with the demo model,
with the reason on the page and in the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils.translation import trans_real

from ingestion.access import MODERATORS_GROUP
from ingestion.models import Image
from search.models import SuggestedLabel
from tests.factories import api_client, make_image, make_user, signed_in

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogues():
    """`make install` compiles them; a bare pytest run may not have (as tests/webapp/test_i18n.py)."""
    call_command("compilemessages", verbosity=0)
    trans_real._translations = {}
    trans_real._default = None


@pytest.fixture(autouse=True)
def _labels_on(settings):
    settings.LABELS = "on"


def labelled(owner, title: str, *slugs_scores: tuple[str, float], **kwargs) -> Image:
    image = make_image(owner, title=title, **kwargs)
    Image.objects.filter(pk=image.pk).update(status=Image.Status.INDEXED)
    SuggestedLabel.objects.bulk_create(SuggestedLabel(image=image, label=s, score=v) for s, v in slugs_scores)
    return image


@pytest.fixture
def world():
    """alice: a public cat, a private cat (the best-scored), a withheld public cat and a public
    beach; bob: a private cat. Only public, shown images are everyone's."""
    alice, bob = make_user("alice"), make_user("bob")
    public = labelled(alice, "public cat", ("cat", 0.30), ("food", 0.27))
    private = labelled(alice, "alice private cat", ("cat", 0.35), visibility=Image.Visibility.PRIVATE)
    withheld = labelled(alice, "withheld cat", ("cat", 0.31))
    Image.objects.filter(pk=withheld.pk).update(moderation=Image.Moderation.HIDDEN)
    beach = labelled(alice, "beach", ("beach", 0.29))
    bobs = labelled(bob, "bob private cat", ("cat", 0.40), visibility=Image.Visibility.PRIVATE)
    pending = make_image(bob, title="unindexed bob picture")  # not indexed: never listed here
    SuggestedLabel.objects.create(image=pending, label="cat", score=0.5)
    moderator = make_user("mod")
    moderator.groups.add(Group.objects.get_or_create(name=MODERATORS_GROUP)[0])
    return {
        "alice": alice, "bob": bob, "moderator": moderator,
        "public": public, "private": private, "withheld": withheld, "beach": beach, "bobs": bobs,
    }  # fmt: skip


def api_labels(user=None) -> dict[str, tuple[int, list[int]]]:
    response = api_client(user).get("/api/labels/")
    assert response.status_code == 200
    body = response.json()
    assert body["enabled"] is True and body["reason"] == ""
    return {c["slug"]: (c["count"], [i["id"] for i in c["images"]]) for c in body["labels"]}


def test_each_viewer_sees_only_the_images_they_may_list(world) -> None:
    w = world
    everyone = {"cat": (1, [w["public"].pk]), "beach": (1, [w["beach"].pk]), "food": (1, [w["public"].pk])}
    assert api_labels() == everyone
    assert api_labels(w["bob"]) == {**everyone, "cat": (2, [w["bobs"].pk, w["public"].pk])}
    # Her own private and withheld images too, best-scored first.
    assert api_labels(w["alice"])["cat"] == (3, [w["private"].pk, w["withheld"].pk, w["public"].pk])
    # A moderator lists what everyone sees: never others' private images, nor withheld ones here.
    assert api_labels(w["moderator"]) == everyone


def test_the_page_per_role(world) -> None:
    w = world
    pages = {
        "anonymous": Client().get("/explore/"),
        "bob": signed_in(w["bob"]).get("/explore/"),
        "alice": signed_in(w["alice"]).get("/explore/"),
        "moderator": signed_in(w["moderator"]).get("/explore/"),
    }
    for role, response in pages.items():
        assert response.status_code == 200, role
        html = response.content.decode()
        assert 'data-label="cat"' in html and f"/images/{w['public'].pk}/" in html, role
        assert ("alice private cat" in html) is (role == "alice"), role
        assert ("withheld cat" in html) is (role == "alice"), role
        assert ("bob private cat" in html) is (role == "bob"), role
        assert "unindexed bob picture" not in html, role
    # The category links to the search filtered by the label.
    assert "/search/?q=cat&amp;label=cat" in pages["anonymous"].content.decode()


def test_the_page_in_both_languages(world) -> None:
    english = Client().get("/explore/").content.decode()
    assert ">Explore</h1>" in english and ">cat</a>" in english and ">beach</a>" in english
    chinese = Client().get("/explore/", **ZH).content.decode()
    assert ">探索</h1>" in chinese and ">猫</a>" in chinese and ">海滩</a>" in chinese
    assert 'id="explore-link">探索</a>' in chinese  # the header's link
    # The demo CLIP reads English: the search link types the English name for a Chinese viewer.
    assert "/search/?q=cat&amp;label=cat" in chinese


def test_the_api_names_each_label_in_both_languages(world) -> None:
    body = api_client().get("/api/labels/", **ZH).json()
    cat = next(c for c in body["labels"] if c["slug"] == "cat")
    assert (cat["en"], cat["zh-Hans"]) == ("cat", "猫")
    assert body["model"] == "demo" and body["min_score"] == 0.26
    assert cat["images"][0]["thumbnail_url"] is None  # these test rows have no thumbnail


def test_the_most_common_categories_get_thumbnails_and_the_rest_are_links(world, monkeypatch) -> None:
    from search import explore

    monkeypatch.setattr(explore, "FEATURED", 1)
    html = Client().get("/explore/").content.decode()
    featured, more = html.split('id="more-categories"')
    assert 'data-label="beach"' in featured and "/search/?q=beach&amp;label=beach" in featured
    assert 'data-label="cat"' in more and 'data-label="food"' in more


def test_off_with_the_demo_model_and_the_reason_is_shown(world, settings) -> None:
    settings.LABELS = "auto"
    html = Client().get("/explore/").content.decode()
    assert 'id="labels-off"' in html and "demo model has random weights" in html
    assert 'data-label="cat"' not in html
    chinese = Client().get("/explore/", **ZH).content.decode()
    assert "演示模型的权重是随机的" in chinese
    body = api_client().get("/api/labels/", **ZH).json()
    assert body["enabled"] is False and body["labels"] == []
    assert body["reason"].startswith("Suggested labels are off: the demo model")  # the API stays English


def test_an_unknown_slug_in_the_store_is_not_shown(world) -> None:
    SuggestedLabel.objects.filter(label="food").update(label="gone-from-the-vocabulary")
    assert "gone-from-the-vocabulary" not in api_labels()


def test_nothing_labelled_yet() -> None:
    html = Client().get("/explore/").content.decode()
    assert 'id="labels-none"' in html
