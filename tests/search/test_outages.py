"""A dead Redis or Milvus loses nothing: uploads are kept pending and recovered later."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import kombu.pools
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingestion.models import Image
from launcher.stack import free_port
from search.engines.vector_store import VectorStoreError
from search.index import forget_collections
from search.pipeline import indexing, queueing
from search.pipeline.reconcile import reconcile, requeue_pending
from tests.factories import api_client, draw_image, image_bytes, make_image, make_user, vector_of
from webapp.celery import app as celery_app

pytestmark = pytest.mark.django_db


@contextmanager
def broker_at(url: str):
    """Point this process's Celery producer at another broker, then back."""
    original = celery_app.conf.broker_url

    def switch(to: str) -> None:
        # Celery and kombu cache connection and producer pools per broker: drop them all.
        kombu.pools.reset()
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        celery_app.conf.broker_url = to
        queueing._broker_down_since = None

    switch(url)
    try:
        yield
    finally:
        switch(original)


def upload(client, kind: str):
    data = image_bytes(draw_image(kind), "PNG")
    return client.post(
        "/api/images/", {"file": SimpleUploadedFile(f"{kind}.png", data, "image/png")}, format="multipart"
    )


def test_uploads_are_kept_pending_while_redis_is_down(django_capture_on_commit_callbacks) -> None:
    client = api_client(make_user())
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):
        with django_capture_on_commit_callbacks(execute=True):
            first = upload(client, "circle")
        assert queueing._broker_down_since is not None  # the enqueue really failed
        with django_capture_on_commit_callbacks(execute=True):
            second = upload(client, "square")  # backs off: no second wait on the dead broker
    assert first.status_code == second.status_code == 201
    ids = {first.json()["id"], second.json()["id"]}
    assert set(Image.objects.filter(status=Image.Status.PENDING).values_list("pk", flat=True)) == ids

    # With Redis back, the sweep run by reconcile and by every worker start queues them again.
    assert requeue_pending(timedelta(0)) == 2


@pytest.mark.usefixtures("clean_index")
def test_indexing_while_milvus_is_down_keeps_the_row_and_reconcile_finishes_it(settings) -> None:
    image = make_image(make_user(), "stripes")
    good_uri = settings.MILVUS_URI
    settings.MILVUS_URI = f"http://127.0.0.1:{free_port()}"
    forget_collections()
    try:
        with pytest.raises(VectorStoreError):
            indexing.index_images([image.pk])
    finally:
        settings.MILVUS_URI = good_uri
        forget_collections()

    image.refresh_from_db()
    assert image.status == Image.Status.PENDING
    stored = vector_of(image)
    assert stored is not None and image.thumbnail  # the expensive work is kept

    report = reconcile(timedelta(days=1))
    image.refresh_from_db()
    assert report.restored == 1
    assert image.status == Image.Status.INDEXED
    np.testing.assert_array_equal(vector_of(image), stored)  # not re-encoded
