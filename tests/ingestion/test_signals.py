"""What ingestion announces (`ingestion.signals`), and what the search app's receivers do with it:
every signal is sent after the transaction commits, and the Milvus copy follows the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.dispatch import Signal
from django.forms import MultiWidget
from django.test import Client

from ingestion import services
from ingestion.intake import Intake, Source
from ingestion.models import Image
from ingestion.signals import image_visibility_changed, images_created
from search.engines.vector_store import SearchFilter
from search.index import embedding_store, hash_store
from tests.factories import (
    PASSWORD,
    draw_image,
    image_bytes,
    index,
    make_image,
    make_user,
    model_of,
    plain_hash,
    vector_of,
)
from webapp.celery import app as celery_app

pytestmark = pytest.mark.django_db


@contextmanager
def recording(signal: Signal) -> Iterator[list[dict]]:
    """Every send of `signal` while inside, as the keyword arguments its receivers got."""
    received: list[dict] = []

    def receiver(sender, **kwargs) -> None:
        received.append({"sender": sender, **{k: v for k, v in kwargs.items() if k != "signal"}})

    signal.connect(receiver, weak=False, dispatch_uid="test-recorder")
    try:
        yield received
    finally:
        signal.disconnect(dispatch_uid="test-recorder")


@pytest.fixture
def ingest_queue_purged():
    """Announcing new images queues real indexing tasks in Redis; none may outlive the test (their
    rows are rolled back, and the ids may be reused by a later test)."""
    yield
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(settings.INGEST_QUEUE)


def store_of(image: Image):
    return embedding_store(model_of(image), len(vector_of(image)))


def anonymous_hits(image: Image) -> list[int]:
    vector = vector_of(image)
    return [hit.id for hit in store_of(image).search(vector, limit=5, filter=SearchFilter())]


# ---------------------------------------------------------------------------- images_created


@pytest.mark.usefixtures("ingest_queue_purged")
def test_a_new_image_is_announced_after_commit_and_not_before(
    alice, django_capture_on_commit_callbacks
) -> None:
    intake = Intake(owner=alice, data=image_bytes(draw_image("square"), "PNG"), source=Source.SCRIPT)
    with recording(images_created) as received:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            image = services.create_image(intake)
            assert received == []  # the row is not committed yet
        assert callbacks
        assert received == [{"sender": Image, "ids": [image.pk]}]


def test_an_import_that_announces_its_own_batches_sends_nothing_per_image(
    alice, django_capture_on_commit_callbacks
) -> None:
    intake = Intake(owner=alice, data=image_bytes(draw_image("circle"), "PNG"), source=Source.SCRIPT)
    with recording(images_created) as received, django_capture_on_commit_callbacks(execute=True):
        services.create_image(intake, announce=False)
    assert received == []


# ---------------------------------------------------------------------------- image_visibility_changed


def admin_form_data(form) -> dict:
    """What a browser would post back from the admin's change form as it was rendered."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, MultiWidget):
            parts = field.widget.decompress(value)
            data.update({f"{name}_{i}": "" if part is None else part for i, part in enumerate(parts)})
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = "" if value is None else value
    return data


@pytest.mark.usefixtures("clean_index")
def test_a_visibility_change_in_the_django_admin_is_announced_and_reaches_milvus(
    alice, django_capture_on_commit_callbacks
) -> None:
    image = make_image(alice, "triangle", color=(20, 90, 200))
    index(image)
    assert image.status == Image.Status.INDEXED
    assert anonymous_hits(image) == [image.pk]

    make_user("root", is_staff=True, is_superuser=True)
    admin = Client()
    assert admin.login(username="root", password=PASSWORD)
    url = f"/admin/ingestion/image/{image.pk}/change/"
    data = admin_form_data(admin.get(url).context["adminform"].form)
    assert data["visibility"] == "public"

    with recording(image_visibility_changed) as received:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin.post(url, {**data, "visibility": "private", "_save": "Save"})
            assert response.status_code == 302, response.content[:2000]
            assert received == []  # not before the commit
        assert received == [{"sender": Image, "image_id": image.pk}]

    image.refresh_from_db()
    assert image.visibility == "private"
    assert anonymous_hits(image) == []  # an anonymous search no longer finds it
    owner_view = SearchFilter(viewer_id=alice.pk)
    hits = store_of(image).search(vector_of(image), limit=5, filter=owner_view)
    assert [hit.id for hit in hits] == [image.pk]  # still there for its owner


@pytest.mark.usefixtures("clean_index")
def test_a_visibility_change_saved_directly_follows_into_milvus_both_ways(
    alice, django_capture_on_commit_callbacks
) -> None:
    image = make_image(alice, "circle", color=(200, 200, 30))
    index(image)
    with recording(image_visibility_changed) as received:
        with django_capture_on_commit_callbacks(execute=True):
            image.visibility = Image.Visibility.PRIVATE
            image.save()
        assert received == [{"sender": Image, "image_id": image.pk}]
        assert anonymous_hits(image) == []

        with django_capture_on_commit_callbacks(execute=True):
            image.visibility = Image.Visibility.PUBLIC
            image.save()
        assert len(received) == 2
        assert anonymous_hits(image) == [image.pk]


def test_saving_without_a_visibility_change_sends_nothing(alice, django_capture_on_commit_callbacks) -> None:
    image = make_image(alice)
    with recording(image_visibility_changed) as received:
        with django_capture_on_commit_callbacks(execute=True):
            image.title = "renamed"
            image.save()
            services.update_image(image, title="again", visibility="public")
            Image.objects.get(pk=image.pk).save()
        assert received == []

        # After a change is announced, saving the same instance again announces nothing more.
        with django_capture_on_commit_callbacks(execute=True):
            image.visibility = Image.Visibility.PRIVATE
            image.save()
            image.save()
        assert received == [{"sender": Image, "image_id": image.pk}]


def test_a_change_on_the_instance_that_created_the_row_is_announced(
    alice, django_capture_on_commit_callbacks
) -> None:
    """Not only rows loaded from the database: the object `create_image` returned counts too."""
    intake = Intake(owner=alice, data=image_bytes(draw_image("stripes"), "PNG"), source=Source.SCRIPT)
    image = services.create_image(intake, announce=False)
    with recording(image_visibility_changed) as received, django_capture_on_commit_callbacks(execute=True):
        image.visibility = Image.Visibility.PRIVATE
        image.save()
    assert received == [{"sender": Image, "image_id": image.pk}]


def test_a_new_image_is_not_a_visibility_change(alice, django_capture_on_commit_callbacks) -> None:
    with recording(image_visibility_changed) as received, django_capture_on_commit_callbacks(execute=True):
        make_image(alice, visibility="private")
    assert received == []


# ---------------------------------------------------------------------------- deletion


@pytest.mark.usefixtures("clean_index")
def test_deleting_an_indexed_image_removes_its_vectors_from_both_collections(
    alice, django_capture_on_commit_callbacks
) -> None:
    image = make_image(alice, "stripes", color=(120, 20, 160))
    other = make_image(alice, "square", color=(10, 140, 60))
    index(image, other)
    assert plain_hash(image).pdq_hash and vector_of(image) is not None
    vectors, hashes, image_id = store_of(image), hash_store(), image.pk
    assert vectors.ids() == hashes.ids() == {image.pk, other.pk}

    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
        assert vectors.ids() == hashes.ids() == {image_id, other.pk}  # not before the commit

    assert vectors.ids() == {other.pk}
    assert hashes.ids() == {other.pk}
