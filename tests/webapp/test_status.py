"""The indexing status page: counts, failures with reasons, retry; the header's JSON."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from ingestion.models import Image
from tests.factories import PASSWORD, make_image, make_user
from webapp import status

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_status_counts_own_images_and_staff_see_all() -> None:
    alice, bob = make_user("alice"), make_user("bob")
    make_image(alice, "circle")
    done = make_image(alice, "square")
    Image.objects.filter(pk=done.pk).update(status="indexed", indexed_at=timezone.now())
    broken = make_image(bob, "stripes")
    Image.objects.filter(pk=broken.pk).update(status="failed", failure_reason="cannot decode")

    mine = signed_in(alice).get("/status/summary.json").json()
    assert (mine["pending"], mine["indexed"], mine["failed"], mine["scope"]) == (1, 1, 0, "mine")
    assert mine["per_minute"] == 0.1  # one in the last ten minutes
    assert {"model_state", "ingest_state"} <= set(mine)

    page = signed_in(alice).get("/status/").content.decode()
    assert "Nothing failed." in page and "cannot decode" not in page  # bob's failure is his
    admin = make_user("root", is_staff=True)
    staff_page = signed_in(admin).get("/status/").content.decode()
    assert "cannot decode" in staff_page and "(bob)" in staff_page
    assert Client().get("/status/summary.json").status_code == 302


def test_retry_requeues_failed_images(monkeypatch) -> None:
    queued = []
    monkeypatch.setattr(status, "enqueue_indexing", lambda ids: queued.append(sorted(ids)) or True)
    alice, bob = make_user("alice"), make_user("bob")
    failed = [make_image(alice, "circle"), make_image(alice, "square")]
    theirs = make_image(bob, "stripes")
    Image.objects.filter(pk__in=[i.pk for i in [*failed, theirs]]).update(status="failed", failure_reason="x")

    client = signed_in(alice)
    one = client.post("/status/retry/", {"ids": str(failed[0].pk)}, follow=True)
    assert "Queued 1 image for indexing again." in one.content.decode()
    assert queued == [[failed[0].pk]]
    assert Image.objects.get(pk=failed[0].pk).status == "pending"
    assert Image.objects.get(pk=failed[0].pk).failure_reason == ""

    client.post("/status/retry/", {"ids": str(theirs.pk)})  # not hers: untouched
    assert Image.objects.get(pk=theirs.pk).status == "failed"
    client.post("/status/retry/")  # all of hers
    assert queued[-1] == [failed[1].pk]
    assert "comma-separated" in client.post("/status/retry/", {"ids": "x"}, follow=True).content.decode()
