"""The indexing status page: counts, failures with reasons, retry; the header's JSON."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import redis
from celery.signals import task_postrun, task_prerun
from django.test import Client
from django.utils import timezone

from ingestion.models import Image
from search.engines.encoder import EncoderState
from search.pipeline.queueing import enqueue_indexing
from search.pipeline.worker_status import (
    INDEXING_PREFIX,
    INDEXING_TTL_SECONDS,
    WorkerState,
    mark_indexing,
    read_indexing,
    redis_client,
    renew_indexing,
    unmark_indexing,
)
from search.tasks import index_images, ocr_images
from tests.factories import draw_image, image_bytes, make_image, make_user, signed_in
from webapp import status

pytestmark = pytest.mark.django_db


def test_status_counts_own_images_and_staff_see_all() -> None:
    alice, bob = make_user("alice"), make_user("bob")
    make_image(alice, "circle")
    done = make_image(alice, "square")
    Image.objects.filter(pk=done.pk).update(status="indexed", indexed_at=timezone.now())
    broken = make_image(bob, "stripes")
    Image.objects.filter(pk=broken.pk).update(status="failed", failure_reason="cannot decode")

    mine = signed_in(alice).get("/status/summary.json").json()
    assert (mine["pending"], mine["indexed"], mine["failed"], mine["scope"]) == (1, 1, 0, "mine")
    assert mine["per_minute"] == 1.0  # one just now: counted over at least a minute
    assert {"model_state", "ingest_state"} <= set(mine)

    page = signed_in(alice).get("/status/").content.decode()
    assert "Nothing failed." in page and "cannot decode" not in page  # bob's failure is his
    admin = make_user("root", is_staff=True)
    staff_page = signed_in(admin).get("/status/").content.decode()
    assert "cannot decode" in staff_page and "(bob)" in staff_page
    assert Client().get("/status/summary.json").status_code == 302


def test_the_rate_is_over_the_time_indexing_took_not_the_whole_window() -> None:
    alice = make_user("alice")
    now = timezone.now()
    burst = [make_image(alice, "circle", title=str(n)) for n in range(6)]
    for n, image in enumerate(burst):  # six in the last two minutes
        Image.objects.filter(pk=image.pk).update(status="indexed", indexed_at=now - timedelta(seconds=20 * n))
    old = make_image(alice, "square")
    Image.objects.filter(pk=old.pk).update(status="indexed", indexed_at=now - timedelta(minutes=30))
    # 6 over the 100 s since the first of them: 3.6 a minute (averaged over 10 minutes it said 0.6).
    assert signed_in(alice).get("/status/summary.json").json()["per_minute"] == pytest.approx(3.6, abs=0.1)
    assert status._per_minute(0, None, now) == 0.0
    assert status._per_minute(30, now - timedelta(hours=1), now) == 3.0  # never over more than the window


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


# ---------------------------------------------------------------------------- being indexed now


@pytest.fixture
def no_marks():
    client = redis_client()
    for key in client.scan_iter(match=INDEXING_PREFIX + "*"):
        client.delete(key)
    yield client
    for key in client.scan_iter(match=INDEXING_PREFIX + "*"):
        client.delete(key)


def test_a_batch_counts_as_being_indexed_from_its_start_to_its_end(no_marks) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    hers = [make_image(alice, "circle"), make_image(alice, "square"), make_image(alice, "stripes")]
    his = make_image(bob, "triangle")
    done = hers[2]
    Image.objects.filter(pk=done.pk).update(status="indexed", indexed_at=timezone.now())
    ids = [image.pk for image in [*hers, his]]

    # Celery sends these around every task the worker runs (search.pipeline.worker_status connects them).
    task_prerun.send(sender=index_images, task_id="batch-1", task=index_images, args=(ids,), kwargs={})
    assert no_marks.ttl(INDEXING_PREFIX + "batch-1") <= INDEXING_TTL_SECONDS
    mine = signed_in(alice).get("/status/summary.json").json()
    # Her two pending ones; not bob's, not the one already indexed.
    assert (mine["pending"], mine["indexing"], mine["waiting"]) == (2, 2, 0)
    assert signed_in(bob).get("/status/summary.json").json()["indexing"] == 1
    staff = signed_in(make_user("root", is_staff=True)).get("/status/summary.json").json()
    assert (staff["pending"], staff["indexing"], staff["waiting"]) == (3, 3, 0)

    page = signed_in(alice).get("/status/").content.decode()
    assert re.search(r'data-field="indexing">2<', page) and "being indexed now" in page
    assert page.count('data-indexing="true"') == 2

    # Other tasks are not indexing.
    task_prerun.send(sender=ocr_images, task_id="ocr-1", task=ocr_images, args=([his.pk],), kwargs={})
    assert not no_marks.exists(INDEXING_PREFIX + "ocr-1")

    task_postrun.send(sender=index_images, task_id="batch-1", task=index_images, args=(ids,), kwargs={})
    mine = signed_in(alice).get("/status/summary.json").json()
    assert (mine["pending"], mine["indexing"], mine["waiting"]) == (2, 0, 2)


def test_a_dead_workers_mark_expires_unless_its_heartbeat_renews_it(no_marks) -> None:
    mark_indexing("batch-2", [1, 2])
    no_marks.expire(INDEXING_PREFIX + "batch-2", 1)
    renew_indexing()  # the worker is alive: renewed
    assert no_marks.ttl(INDEXING_PREFIX + "batch-2") > 1
    assert read_indexing() == {1, 2}
    unmark_indexing("batch-2")
    assert read_indexing() == set()
    no_marks.set(INDEXING_PREFIX + "other", "not json")  # never breaks the page
    assert read_indexing() == set()


def test_the_status_answers_quickly_when_redis_is_down(settings, monkeypatch) -> None:
    """Quickly: one connection attempt for the whole answer (each has a short connect timeout),
    not one per read and no retries."""
    alice = make_user("alice")
    make_image(alice)
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    attempts: list[int] = []
    real_connect = redis.connection.Connection._connect

    def counting_connect(connection):
        attempts.append(connection.port)
        return real_connect(connection)

    monkeypatch.setattr(redis.connection.Connection, "_connect", counting_connect)
    summary = signed_in(alice).get("/status/summary.json").json()
    assert attempts == [9]
    assert (summary["pending"], summary["indexing"], summary["waiting"]) == (1, 0, 1)
    assert summary["ingest_state"] == "error" and "unreachable" in summary["ingest_detail"]
    assert summary["ocr_state"] == "error" and "unreachable" in summary["ocr_detail"]


def test_the_ocr_workers_engine_is_reported_beside_the_encoder(settings, monkeypatch) -> None:
    """Additive: every field the summary had stays; `ocr_state` / `ocr_detail` join them."""
    settings.OCR_ENABLED = True
    broken = "the OCR engine could not be loaded: det.onnx is missing"
    states = [
        WorkerState("query@box", ["query"], EncoderState.OK, "", "demo", "cpu", 128),
        WorkerState("ingest@box", ["ingest"], EncoderState.LOADING),
        WorkerState("ocr@box", ["ocr"], EncoderState.ERROR, broken),
    ]
    monkeypatch.setattr(status, "read_all", lambda client: states)
    alice = make_user("alice")
    summary = signed_in(alice).get("/status/summary.json").json()
    assert {
        "pending", "indexing", "waiting", "failed", "indexed", "per_minute", "model_state",
        "model_detail", "ingest_state", "ingest_detail", "scope", "model",
    } <= set(summary)  # fmt: skip
    assert (summary["model_state"], summary["ingest_state"]) == ("ok", "loading")
    assert (summary["ocr_state"], summary["ocr_detail"]) == ("error", broken)
    page = signed_in(alice).get("/status/").content.decode()
    assert "Word-reading (OCR) worker:" in page and "det.onnx is missing" in page

    states[2] = WorkerState("ocr@box", ["ocr"], EncoderState.LOADING, "loading the OCR engine")
    assert signed_in(alice).get("/status/summary.json").json()["ocr_state"] == "loading"
    states.pop()
    summary = signed_in(alice).get("/status/summary.json").json()
    assert summary["ocr_state"] == "no_worker" and "'ocr' queue" in summary["ocr_detail"]

    settings.OCR_ENABLED = False  # no worker needs to read words
    summary = signed_in(alice).get("/status/summary.json").json()
    assert (summary["ocr_state"], summary["ocr_detail"]) == ("off", "OCR is off (OCR_ENABLED)")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_marks_the_batch_it_is_indexing(workers, clean_index, no_marks) -> None:
    alice = make_user("alice")
    pictures = [
        draw_image(kind, size=(2400, 1800), color=(i * 40, 90, 160))
        for i, kind in enumerate(["circle", "square", "stripes", "triangle"] * 2)
    ]
    images = [make_image(alice, data=image_bytes(picture, "JPEG")) for picture in pictures]
    ids = {image.pk for image in images}
    assert enqueue_indexing(sorted(ids))
    seen: set[int] = set()
    deadline = time.monotonic() + 90
    while Image.objects.filter(pk__in=ids, status=Image.Status.PENDING).exists():
        seen |= read_indexing(no_marks)
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert seen & ids  # the worker said what it was indexing while it did
    deadline = time.monotonic() + 5
    while read_indexing(no_marks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_indexing(no_marks) == set()  # and took it back when done
