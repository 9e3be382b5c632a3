"""Bring Milvus back in line with the database, the source of truth."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import Image

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    requeued: int = 0
    restored: int = 0
    orphans_deleted: int = 0
    collections: int = 0
    hashes_restored: int = 0
    hash_orphans_deleted: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _batches(ids: list[int], size: int):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def requeue_pending(older_than: timedelta | None = None, model_id: str | None = None) -> int:
    """Queue stale pending images (and, given the current model, images embedded by another)."""
    from .services import enqueue_indexing

    if older_than is None:
        older_than = timedelta(seconds=settings.PENDING_REQUEUE_SECONDS)
    stale = Image.objects.filter(status=Image.Status.PENDING, updated_at__lte=timezone.now() - older_than)
    ids = list(stale.values_list("pk", flat=True))
    if model_id:
        ids += list(
            Image.objects.filter(status=Image.Status.INDEXED)
            .exclude(embedding_model=model_id)
            .values_list("pk", flat=True)
        )
    for batch in _batches(sorted(set(ids)), settings.INGEST_BATCH_SIZE):
        if not enqueue_indexing(batch):
            break
    return len(set(ids))


def sync_collections(report: ReconcileReport) -> None:
    """Restore vectors missing from Milvus from the stored embeddings and drop orphans."""
    from search.index import store_for, vector_row

    models = (
        Image.objects.exclude(embedding=None)
        .exclude(embedding_model="")
        .order_by()  # the default ordering would make DISTINCT return one row per image
        .values_list("embedding_model", flat=True)
        .distinct()
    )
    for model_id in list(models):
        rows = Image.objects.filter(embedding_model=model_id).exclude(embedding=None)
        first = rows.first()
        dim = len(first.embedding_vector())
        store = store_for(model_id, dim)
        report.collections += 1
        in_milvus = store.ids()
        wanted = set(rows.filter(status=Image.Status.INDEXED).values_list("pk", flat=True))
        # Pending rows that already have an embedding only lacked the Milvus write.
        ready = set(rows.filter(status=Image.Status.PENDING).values_list("pk", flat=True))
        missing = sorted((wanted | ready) - in_milvus)
        for batch in _batches(missing, 500):
            images = list(Image.objects.filter(pk__in=batch))
            store.upsert([vector_row(i, i.embedding_vector()) for i in images])
            report.restored += len(images)
        orphans = sorted(in_milvus - wanted - ready)
        if orphans:
            store.delete(orphans)
            report.orphans_deleted += len(orphans)
        store.flush()
        if ready:
            Image.objects.filter(pk__in=ready).update(
                status=Image.Status.INDEXED, failure_reason="", indexed_at=timezone.now()
            )


def sync_hashes(report: ReconcileReport) -> None:
    """The same for the PDQ collection, from the hashes kept in the database."""
    from search.index import pdq_row, pdq_store

    store = pdq_store()
    in_milvus = store.ids()
    rows = Image.objects.exclude(pdq_hash="").exclude(status=Image.Status.FAILED)
    wanted = set(rows.values_list("pk", flat=True))
    for batch in _batches(sorted(wanted - in_milvus), 500):
        images = list(Image.objects.filter(pk__in=batch))
        store.upsert([pdq_row(image) for image in images])
        report.hashes_restored += len(images)
    orphans = sorted(in_milvus - wanted)
    if orphans:
        store.delete(orphans)
        report.hash_orphans_deleted += len(orphans)
    store.flush()


def reconcile(older_than: timedelta | None = None) -> ReconcileReport:
    report = ReconcileReport()
    sync_collections(report)
    sync_hashes(report)
    report.requeued = requeue_pending(older_than)
    log.info("reconcile: %s", report.as_dict())
    return report
