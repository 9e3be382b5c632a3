"""Bring Milvus back in line with the database, the source of truth, and re-queue stale work."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ingestion import states
from ingestion.models import Image

from .. import index, vectors
from ..signals import index_reconciled
from ..variants import PLAIN
from . import labels, rehashing, switching
from .queueing import enqueue_indexing
from .text_reading import enqueue_ocr, unread_ids

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    requeued: int = 0
    restored: int = 0
    orphans_deleted: int = 0
    collections: int = 0
    hashes_restored: int = 0
    hash_orphans_deleted: int = 0
    variants_restored: int = 0  # PDQ hashes of turned, trimmed and cropped copies
    variant_orphans_deleted: int = 0
    ocr_queued: int = 0  # indexed images whose words were never read
    rehash_outdated: int = 0  # indexed images hashed before the newest variants existed
    rehash_started: bool = False  # a chain of rehash tasks was queued for them
    labels_outdated: int = 0  # indexed images without suggested labels from the active model
    labels_started: bool = False  # a chain of labelling tasks was queued for them
    bans_restored: int = 0  # the ban collection's rows (moderation answers `index_reconciled`)
    ban_orphans_deleted: int = 0
    model_switch: dict | None = None  # what search.pipeline.switching.heal mended

    def as_dict(self) -> dict:
        return asdict(self)


def requeue_pending(older_than: timedelta | None = None, model_id: str | None = None) -> int:
    """Queue stale pending images (and, given the current model, images embedded by another)."""
    if older_than is None:
        older_than = timedelta(seconds=settings.PENDING_REQUEUE_SECONDS)
    stale = Image.objects.filter(status=Image.Status.PENDING, updated_at__lte=timezone.now() - older_than)
    ids = set(stale.values_list("pk", flat=True))
    if model_id:
        indexed = Image.objects.filter(status=Image.Status.INDEXED)
        outdated = indexed.exclude(pk__in=vectors.holder_ids(model_id))
        ids |= set(outdated.values_list("pk", flat=True))
    ordered = sorted(ids)
    for start in range(0, len(ordered), settings.INGEST_BATCH_SIZE):
        if not enqueue_indexing(ordered[start : start + settings.INGEST_BATCH_SIZE]):
            break
    return len(ids)


def sync_embeddings(report: ReconcileReport) -> None:
    """Every model's collection holds exactly the images (not failed, not trashed) with a vector of
    that model. Pending rows that already have a vector of the active model only lacked the Milvus
    write: they are restored and marked indexed."""
    active = switching.active_model_id()
    for model_id, dim in index.embedding_models().items():
        wanted = vectors.published_ids(model_id)
        store = index.embedding_store(model_id, dim)
        result = index.sync_collection(store, wanted, index.model_rows(model_id))
        report.collections += 1
        report.restored += result.restored
        report.orphans_deleted += result.orphans_deleted
        if model_id == active:
            pending = Image.objects.filter(status=Image.Status.PENDING, pk__in=vectors.holder_ids(model_id))
            ready = list(pending.values_list("pk", flat=True))
            if ready:
                states.mark_indexed(ready, timezone.now(), touch=False)


def sync_hashes(report: ReconcileReport) -> None:
    """The hash collection holds every hash the database keeps for an image not failed."""
    hashed = Image.objects.filter(hash_variants__kind=PLAIN).exclude(status=Image.Status.FAILED)
    wanted = set(hashed.values_list("pk", flat=True))
    result = index.sync_collection(index.hash_store(), wanted, index.hash_rows)
    report.hashes_restored += result.restored
    report.hash_orphans_deleted += result.orphans_deleted
    index.drop_earlier_variant_layouts()
    variants = index.sync_variants()
    report.variants_restored += variants.restored
    report.variant_orphans_deleted += variants.orphans_deleted


def reconcile(older_than: timedelta | None = None) -> ReconcileReport:
    report = ReconcileReport()
    report.model_switch = switching.heal()  # first: it decides which vectors stay
    sync_embeddings(report)
    sync_hashes(report)
    report.requeued = requeue_pending(older_than)
    unread = unread_ids()
    report.ocr_queued = len(unread) if enqueue_ocr(unread) else 0
    report.rehash_outdated = len(rehashing.outdated_ids())
    report.rehash_started = bool(report.rehash_outdated) and rehashing.start_chain()
    report.labels_outdated = len(labels.outdated_ids()) if labels.enabled() else 0
    report.labels_started = bool(report.labels_outdated) and labels.start_chain()
    index_reconciled.send_robust(sender=ReconcileReport, report=report)
    log.info("reconcile: %s", report.as_dict())
    return report
