"""Recovery from a Redis outage (finding 9): an upload whose enqueue failed stays pending, marked,
and is queued again by the 30-second sweep as soon as the broker answers, not at the next
reconcile. Against the real Redis (and, at the end, real workers and a real beat)."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from ingestion.models import Image
from launcher.stack import free_port
from search.pipeline import queueing
from tests.factories import api_client, draw_image, image_bytes, make_image, make_user, noise_png
from tests.search.test_outages import broker_at

# How long the end-to-end test waits before it calls the recovery lost: a guard against a hang,
# far above the beat's 30 s sweep (the promise itself, "within a minute", is the schedule's).
RECOVERY_GUARD_SECONDS = 180


def upload(client, data: bytes | None = None):
    data = data or image_bytes(draw_image("circle"), "PNG")
    response = client.post(
        "/api/images/", {"file": SimpleUploadedFile("x.png", data, "image/png")}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.django_db
def test_a_failed_enqueue_marks_the_rows_and_the_sweep_queues_them_once_redis_is_back(
    django_capture_on_commit_callbacks, monkeypatch
):
    client = api_client(make_user())
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        with django_capture_on_commit_callbacks(execute=True):
            first = upload(client, noise_png())
        with django_capture_on_commit_callbacks(execute=True):
            second = upload(client, noise_png())  # in the back-off: not tried, but marked too
        for pk in (first, second):
            image = Image.objects.get(pk=pk)
            assert image.status == Image.Status.PENDING
            assert image.failure_reason == queueing.UNQUEUED_REASON
        assert queueing.requeue_unqueued() == 0  # still down: nothing queued, the marks stay
        assert Image.objects.filter(failure_reason=queueing.UNQUEUED_REASON).count() == 2

    sent: list[list[int]] = []
    real_send = queueing.current_app.send_task

    def recording(name, args=None, **kwargs):
        sent.append(list(args[0]))
        return real_send(name, args=args, **kwargs)  # really to the test Redis

    monkeypatch.setattr(queueing.current_app, "send_task", recording)
    queueing._broker_down_since = time.monotonic()  # this process still backs off: the sweep does not
    assert queueing.requeue_unqueued() == 2
    assert sent == [sorted([first, second])]
    assert not Image.objects.filter(failure_reason=queueing.UNQUEUED_REASON).exists()
    assert queueing.requeue_unqueued() == 0  # nothing twice
    queueing._broker_down_since = None


@pytest.mark.django_db
def test_the_sweep_leaves_images_pending_for_other_reasons_to_reconcile(monkeypatch):
    image_id = make_image(make_user(), data=noise_png()).pk
    Image.objects.filter(pk=image_id).update(failure_reason="Waiting for Milvus: down")
    sent = []
    monkeypatch.setattr(queueing.current_app, "send_task", lambda *a, **k: sent.append(a))
    assert queueing.requeue_unqueued() == 0
    assert not sent
    assert Image.objects.get(pk=image_id).failure_reason == "Waiting for Milvus: down"


def test_the_sweep_runs_every_30_seconds_on_the_query_queue(settings) -> None:
    """The promise "within a minute of its return" is the schedule's: beat's sweep comes every 30 s,
    on the query queue (never behind an ingest backlog), and one not taken in its period expires."""
    sweep = settings.CELERY_BEAT_SCHEDULE["requeue-unqueued"]
    assert sweep["task"] == "search.tasks.requeue_unqueued" and sweep["schedule"] <= 30
    assert sweep["options"] == {"queue": settings.QUERY_QUEUE, "expires": 30}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_uploads_made_while_redis_was_down_are_indexed_after_its_return(workers):
    """The audit's scenario end to end: uploads during the outage, then real beat and workers."""
    client = api_client(make_user("outage"))
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        ids = [upload(client, noise_png()) for _ in range(3)]
    assert set(Image.objects.filter(pk__in=ids).values_list("failure_reason", flat=True)) == {
        queueing.UNQUEUED_REASON
    }
    connection.close()  # the workers write these rows: no open read transaction here
    beat = workers.start_beat()
    try:
        deadline = time.monotonic() + RECOVERY_GUARD_SECONDS
        while time.monotonic() < deadline:
            statuses = set(Image.objects.filter(pk__in=ids).values_list("status", flat=True))
            if statuses == {Image.Status.INDEXED}:
                break
            time.sleep(1)
        assert statuses == {Image.Status.INDEXED}, (statuses, workers.tail(beat))
    finally:
        beat.process.terminate()
        beat.process.wait(20)
        workers.services.remove(beat)
