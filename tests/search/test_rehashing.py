"""Images hashed by an earlier version (before the 15% and 20% side cuts were stored) get the new
variants from their originals in the background: found by `reconcile`, hashed by a chain of
ingest tasks, published, and then found as copies."""

from __future__ import annotations

import pytest

from bench.images import cut, photo
from search import variants
from search.index import variant_store
from search.models import HashVariant
from search.pipeline import chains, rehashing
from search.pipeline.reconcile import reconcile
from search.pipeline.worker_status import redis_client
from search.query.duplicates import NEAR, find_duplicates
from tests.factories import image_bytes, index, make_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]
NEW_KINDS = [kind for kind in variants.STORED_KINDS if kind.startswith(("cut15", "cut20"))]


def hashed_by_an_earlier_version(image) -> None:
    """What an install upgraded from before the side cuts holds: no such rows, nothing in Milvus."""
    HashVariant.objects.filter(image=image, kind__in=NEW_KINDS).delete()
    variant_store().delete([variants.row_id(image.pk, kind) for kind in NEW_KINDS])
    variant_store().flush()


@pytest.fixture
def no_chain():
    redis_client().delete(rehashing.CHAIN_KEY)
    yield
    redis_client().delete(rehashing.CHAIN_KEY)


def test_an_old_image_gets_its_side_cuts_and_meets_a_cut_copy(
    alice, no_chain, django_capture_on_commit_callbacks
):
    original = make_image(alice, data=image_bytes(photo(1000), "JPEG", quality=92))
    copy = make_image(alice, data=image_bytes(cut(photo(1000), 0.2, "right"), "JPEG", quality=92))
    index(original, copy)
    hashed_by_an_earlier_version(original)
    assert rehashing.outdated_ids() == [original.pk]
    assert find_duplicates(copy, alice) == []  # its 20% cut meets nothing the old original stored

    with django_capture_on_commit_callbacks(execute=True):
        assert rehashing.rehash([original.pk]) == [original.pk]

    assert rehashing.outdated_ids() == []
    assert set(HashVariant.objects.filter(image=original).values_list("kind", flat=True)) >= set(NEW_KINDS)
    assert variants.row_id(original.pk, "cut20-right") in variant_store().ids()
    assert [(d.image.pk, d.kind) for d in find_duplicates(copy, alice)] == [(original.pk, NEAR)]


def test_reconcile_starts_one_chain_and_the_chain_ends_when_all_are_done(alice, no_chain, monkeypatch):
    images = [make_image(alice, data=image_bytes(photo(seed), "JPEG")) for seed in (1, 2, 3)]
    index(*images)
    for image in images:
        hashed_by_an_earlier_version(image)
    sent = []
    # The same Celery app queues OCR too: keep only the rehash tasks.
    def send_task(name: str, **kwargs) -> None:
        if name == rehashing.TASK:
            sent.append(name)

    monkeypatch.setattr(chains.current_app, "send_task", send_task)
    monkeypatch.setattr(rehashing, "BATCH", 2)

    report = reconcile()
    assert (report.rehash_outdated, report.rehash_started) == (3, True)
    assert reconcile().rehash_started is False  # one chain at a time
    assert sent == [rehashing.TASK]

    assert rehashing.run_batch() == {"rehashed": 2, "remaining": 1}
    assert sent == [rehashing.TASK] * 2 and redis_client().exists(rehashing.CHAIN_KEY)
    assert rehashing.run_batch() == {"rehashed": 1, "remaining": 0}
    assert len(sent) == 2 and not redis_client().exists(rehashing.CHAIN_KEY)
    assert reconcile().rehash_outdated == 0


def test_a_missing_original_keeps_its_hashes_and_stops_the_chain(alice, no_chain, monkeypatch):
    image = make_image(alice, data=image_bytes(photo(4), "JPEG"))
    index(image)
    hashed_by_an_earlier_version(image)
    image.original.storage.delete(image.original.name)
    monkeypatch.setattr(chains.current_app, "send_task", lambda name, **kw: None)
    assert rehashing.run_batch() == {"rehashed": 0, "remaining": 1}
    assert not redis_client().exists(rehashing.CHAIN_KEY)  # no endless chain over a lost file
    assert HashVariant.objects.filter(image=image).exists()
