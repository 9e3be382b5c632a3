"""Nothing is lost when a worker or the queue dropped work: a starting worker picks it up."""

from __future__ import annotations

import time

import pytest

from ingestion.models import Image
from search.pipeline.worker_status import read_all
from tests.factories import make_image, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_starting_ingest_worker_indexes_images_left_pending(workers, clean_index) -> None:
    # Rows whose indexing message never reached a worker: a dead broker at upload time,
    # or a worker killed with the message in hand.
    owner = make_user("alice")
    lost = [make_image(owner, kind).pk for kind in ("circle", "square")]
    assert Image.objects.filter(pk__in=lost, status=Image.Status.PENDING).count() == 2

    extra = workers.start_worker("ingest", name="ingest-restarted")
    try:
        deadline = time.monotonic() + 60
        while Image.objects.filter(status=Image.Status.PENDING).exists():
            assert extra.process.poll() is None, workers.tail(extra)
            assert time.monotonic() < deadline, workers.tail(extra)
            time.sleep(0.2)
        indexed = Image.objects.filter(pk__in=lost, status=Image.Status.INDEXED)
        assert indexed.count() == 2
        assert any(s.hostname.startswith("ingest-restarted@") for s in read_all())
    finally:
        extra.process.terminate()
        extra.process.wait(20)
        workers.services.remove(extra)
