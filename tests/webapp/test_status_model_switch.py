"""The status page's model switch: progress for staff, buttons for superusers only (POST, CSRF);
everyone else is refused and learns nothing of the site-wide counts."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from ingestion.models import Image
from search.models import ModelSwitch
from tests.factories import make_image, make_user, signed_in

pytestmark = pytest.mark.django_db
DOORS = ("/status/model/", "/status/model/cancel/", "/status/model/drop/")


@pytest.fixture
def root():
    return make_user("root", is_staff=True, is_superuser=True)


def indexed(owner, count: int) -> None:
    for n in range(count):
        image = make_image(owner, "circle", title=str(n))
        Image.objects.filter(pk=image.pk).update(status="indexed", indexed_at=timezone.now())


def test_only_superusers_may_switch(root) -> None:
    staff = make_user("staff", is_staff=True)
    alice = make_user("alice")
    for door in DOORS:
        assert Client().post(door, {"model": "demo-64"}).status_code == 302  # to the sign-in page
        assert signed_in(alice).post(door, {"model": "demo-64"}).status_code == 403
        assert signed_in(staff).post(door, {"model": "demo-64"}).status_code == 403
        assert signed_in(root).get(door).status_code == 405
        # A form posted from another site carries no CSRF token.
        assert signed_in(root, enforce_csrf_checks=True).post(door, {"model": "demo-64"}).status_code == 403
    assert not ModelSwitch.objects.filter(target="demo-64").exists()
    assert "switch-form" not in signed_in(staff).get("/status/").content.decode()
    assert "switch-form" not in signed_in(alice).get("/status/").content.decode()


def test_a_superuser_starts_follows_and_cancels_a_switch(root) -> None:
    indexed(root, 3)
    client = signed_in(root)
    page = client.get("/status/").content.decode()
    assert 'id="active-model">demo<' in page and 'id="switch-form"' in page

    response = client.post("/status/model/", {"model": "demo-64"}, follow=True)
    page = response.content.decode()
    assert "Building demo-64 in the background; searches keep demo" in page
    assert "Switching to <code>demo-64</code>" in page and 'id="cancel-switch"' in page
    assert 'data-field="switch_done">0<' in page and 'data-field="switch_total">3<' in page
    assert 'id="switch-form"' not in page  # one switch at a time
    body = client.get("/status/summary.json").json()
    assert body["model"] == "demo"
    assert (body["switch_done"], body["switch_total"], body["switch_percent"]) == (0, 3, 0.0)
    assert body["model_switch"]["target"] == "demo-64"

    # Others see the active model, never the site-wide counts.
    mine = signed_in(make_user("alice")).get("/status/summary.json").json()
    assert mine["model"] == "demo" and "model_switch" not in mine and "switch_total" not in mine

    page = client.post("/status/model/", {"model": "some/other-model"}, follow=True).content.decode()
    assert "A switch to demo-64 is under way; cancel it first." in page
    page = client.post("/status/model/cancel/", follow=True).content.decode()
    assert "Cancelled the switch to demo-64." in page and 'id="switch-form"' in page
    assert ModelSwitch.objects.get(pk=1).target == ""


def test_bad_model_ids_are_refused_in_plain_words(root) -> None:
    client = signed_in(root)
    assert "model: This field is required." in client.post("/status/model/", {}, follow=True).content.decode()
    page = client.post("/status/model/", {"model": "x" * 300}, follow=True).content.decode()
    assert "at most 255 characters" in page
    page = client.post("/status/model/", {"model": "demo"}, follow=True).content.decode()
    assert "demo is already the active model." in page
    page = client.post("/status/model/drop/", follow=True).content.decode()
    assert "There is no previous model to drop." in page
    assert not ModelSwitch.objects.filter(pk=1).exclude(target="").exists()


def test_the_previous_model_can_be_dropped_from_the_page(root) -> None:
    ModelSwitch.objects.create(pk=1, active="demo-64", configured="demo", previous="demo", previous_dim=128)
    client = signed_in(root)
    page = client.get("/status/").content.decode()
    assert 'id="active-model">demo-64<' in page and 'id="drop-old"' in page
    assert "Model: <code>demo-64</code>" in page  # the footer of every page names the active model
    page = client.post("/status/model/drop/", follow=True).content.decode()
    assert "Dropped demo" in page
    assert ModelSwitch.objects.get(pk=1).previous == ""
