"""Content-addressed storage: identical uploads share one file, and deleting the last reference
can never remove a file that a concurrent upload of the same bytes is about to use."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.files.storage import default_storage
from django.db import connections

from ingestion import services, storage
from ingestion.intake import Intake, Source
from ingestion.models import Image
from tests.factories import make_image, make_user, noise_png

RACE_TRIALS = 120
RACE_SECONDS = 40


@pytest.mark.django_db
def test_identical_uploads_share_one_original_and_the_last_delete_removes_it(
    django_capture_on_commit_callbacks,
):
    alice, bob = make_user("alice"), make_user("bob")
    data = noise_png()
    first, second = make_image(alice, data=data), make_image(bob, data=data)
    assert first.original.name == second.original.name
    with django_capture_on_commit_callbacks(execute=True):
        first.delete()
    assert default_storage.exists(second.original.name)
    with django_capture_on_commit_callbacks(execute=True):
        second.delete()
    assert not default_storage.exists(second.original.name)


@pytest.mark.django_db
def test_a_thumbnail_stays_while_any_row_has_its_content(django_capture_on_commit_callbacks):
    alice = make_user("alice")
    data = noise_png()
    first, second = make_image(alice, data=data), make_image(alice, data=data)
    name = storage.store_thumbnail(b"webp", first.sha256)
    Image.objects.filter(pk=first.pk).update(thumbnail=name)  # `second` is not indexed yet
    with django_capture_on_commit_callbacks(execute=True):
        Image.objects.get(pk=first.pk).delete()
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        second.delete()  # its row never named the thumbnail: found by the content hash
    assert not default_storage.exists(name)


@pytest.mark.django_db
def test_a_failed_row_leaves_no_new_file(monkeypatch):
    alice = make_user("alice")
    intake = Intake(owner=alice, data=noise_png(), source=Source.SCRIPT, filename="x.png")

    def broken(*args, **kwargs):
        raise RuntimeError("database refused the row")

    monkeypatch.setattr(Image.objects, "create", broken)
    with pytest.raises(RuntimeError):
        services.create_image(intake, announce=False)
    assert not default_storage.exists(storage.original_name(intake.sha256, "png"))


def _in_thread(work, errors: list, barrier: threading.Barrier) -> threading.Thread:
    def run() -> None:
        try:
            barrier.wait(5)
            work()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_delete_racing_an_upload_of_the_same_bytes_never_loses_the_new_file():
    """The audit's interleaving, looped: image X is deleted while the same bytes are uploaded
    again. Whatever the order, the new row's original must exist afterwards."""
    alice, bob = make_user("alice"), make_user("bob")
    lost, errors = [], []
    deadline = time.monotonic() + RACE_SECONDS
    trials = 0
    while trials < RACE_TRIALS and time.monotonic() < deadline:
        trials += 1
        data = noise_png(seed=trials)
        intake = Intake(owner=bob, data=data, source=Source.SCRIPT, filename="same.png")
        old = make_image(alice, data=data)
        created: list[Image] = []
        barrier = threading.Barrier(2)

        def upload(into: list[Image] = created, intake=intake) -> None:
            into.append(services.create_image(intake, announce=False))

        threads = [_in_thread(old.delete, errors, barrier), _in_thread(upload, errors, barrier)]
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        new = created[0]
        if not default_storage.exists(new.original.name):
            lost.append(trials)
        new.delete()
    assert trials >= 20, f"only {trials} trials ran"
    assert not lost, f"the new upload's original was deleted in {len(lost)} of {trials} trials"
