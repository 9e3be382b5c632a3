"""Indexing as explicit stages over one typed batch:

    select -> prepare -> encode -> persist -> screen -> publish -> mark indexed -> drop the deleted

Failure policy, stage by stage:
- select: ids with no row are skipped (deleted before we started); indexed rows of the current
  model are skipped unless `force`.
- prepare (decode, thumbnail, PDQ, model inputs; in threads): an image that cannot be read fails
  alone: its row becomes `failed` with the reason, the rest of the batch goes on.
- encode: ModelUnavailable propagates; every row stays `pending` (queued again when a worker has
  a usable model).
- persist: thumbnail, hash and vector (a `ModelEmbedding` row, `search.vectors`) go to the database
  first, the source of truth. During a model switch (`search.pipeline.switching`) the batch is also
  encoded by the target model, and that vector is kept too and published to its collection:
  uploads are indexed by both models.
- screen: `search.signals.images_screening` lets the apps above withhold an image (a ban match)
  before it is published; a receiver's 503 propagates like publish's.
- publish: VectorStoreError propagates; rows stay `pending` with their embedding, and the task
  retries (or `reconcile` restores them without re-encoding).
- drop the deleted: an image deleted while we worked must not leave vectors or a thumbnail behind.
- label: suggested labels from the stored vectors (`search.pipeline.labels`); a failure is logged and
  left to the backfill, never failing the indexing.
- announce: `search.signals.image_indexed(ids)` on commit; a receiver's failure (the moderation
  checks) is logged by Django's `send_robust` and never fails the indexing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ingestion import states
from ingestion.models import Image
from ingestion.processing import HashVariant as PdqVariant
from ingestion.processing import Prepared, prepare
from ingestion.storage import delete_if_unreferenced, read_file, store_thumbnail

from .. import index, vectors
from ..engines.encoder import get_encoder
from ..models import HashVariant
from ..signals import announce_indexed, screen
from . import labels, switching

if TYPE_CHECKING:  # the class itself lives beside torch, which only the workers load
    from ..engines.encoder import Encoder

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    indexed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"indexed": self.indexed, "failed": self.failed, "skipped": self.skipped}


@dataclass
class Item:
    image: Image
    prepared: Prepared | None = None
    vector: np.ndarray | None = None
    target_inputs: Any = None  # during a model switch: the target model's inputs and vector
    target_vector: np.ndarray | None = None


@dataclass
class Batch:
    items: list[Item]
    report: IndexReport
    target: Encoder | None = None  # a model switch's target, which indexes the batch too

    @property
    def ids(self) -> list[int]:
        return [item.image.pk for item in self.items]


def select(ids: list[int], model_id: str, force: bool) -> Batch:
    images = list(Image.objects.filter(pk__in=ids).order_by("pk"))
    report = IndexReport(skipped=sorted(set(ids) - {i.pk for i in images}))
    current = vectors.holding([i.pk for i in images], model_id)
    items = []
    for image in images:
        if force or image.status != Image.Status.INDEXED or image.pk not in current:
            items.append(Item(image))
        else:
            report.skipped.append(image.pk)
    return Batch(items, report)


def _model_inputs(encoder: Encoder, target: Encoder | None) -> Callable[[Any], Any]:
    """One model's inputs, or during a switch both models' (their processors may differ)."""
    if target is None:
        return encoder.image_inputs
    return lambda image: (encoder.image_inputs(image), target.image_inputs(image))


def _prepare_one(image: Image, encoder: Encoder, target: Encoder | None = None) -> Prepared | str:
    """The prepared image, or the reason it cannot be indexed."""
    try:
        return prepare(read_file(image.original.name), _model_inputs(encoder, target))
    except FileNotFoundError:
        return "The stored original is missing."
    except Exception as exc:  # any decode problem fails this image, not the batch
        log.warning("Image %s could not be prepared", image.pk, exc_info=True)
        return f"Could not decode the image: {exc}"


def start_prepare(batch: Batch, encoder: Encoder, pool: Executor) -> list[Future]:
    """Submit every image of the batch to `pool`; `finish_prepare` collects them. The pool's threads
    touch files only, never the database, so they can run beside another batch's stages."""
    return [pool.submit(_prepare_one, item.image, encoder, batch.target) for item in batch.items]


def prepare_all(batch: Batch, encoder: Encoder) -> None:
    """Decoding, thumbnails and hashing release the GIL for most of their time: overlap them."""
    threads = min(settings.PREPARE_THREADS, len(batch.items))
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="prepare") as pool:
        finish_prepare(batch, start_prepare(batch, encoder, pool))


def finish_prepare(batch: Batch, futures: list[Future]) -> None:
    """Wait for the batch's preparation; an image that could not be prepared fails alone."""
    outcomes = [future.result() for future in futures]
    kept = []
    for item, outcome in zip(batch.items, outcomes, strict=True):
        if isinstance(outcome, Prepared):
            if batch.target is not None:
                outcome.model_inputs, item.target_inputs = outcome.model_inputs
            item.prepared = outcome
            kept.append(item)
            continue
        batch.report.failed[item.image.pk] = outcome
        states.mark_failed(item.image.pk, outcome)
    batch.items = kept


def encode(batch: Batch, encoder: Encoder) -> None:
    encoded = encoder.encode_image_inputs([item.prepared.model_inputs for item in batch.items])
    for item, vector in zip(batch.items, encoded, strict=True):
        item.vector = vector
    if batch.target is not None:
        encoded = batch.target.encode_image_inputs([item.target_inputs for item in batch.items])
        for item, vector in zip(batch.items, encoded, strict=True):
            item.target_vector, item.target_inputs = vector, None


def persist(batch: Batch, encoder: Encoder) -> None:
    for item in batch.items:
        image, prepared = item.image, item.prepared
        image.thumbnail = store_thumbnail(prepared.thumbnail, image.sha256)
        Image.objects.filter(pk=image.pk).update(
            thumbnail=image.thumbnail,
            taken_at=prepared.taken_at,
        )
        save_variants(image.pk, prepared)  # the plain hash too: the image's own PDQ hash
        # The owner may have changed visibility while we encoded; publish what is stored now.
        with contextlib.suppress(Image.DoesNotExist):
            image.refresh_from_db(fields=["visibility", "owner"])
    states.note_attempts(item.image.pk for item in batch.items)
    vectors.store(encoder.model_id, {item.image.pk: item.vector for item in batch.items})


def persist_target(batch: Batch) -> None:
    """During a switch, the target model's vectors too; `index.publish` (placements) then sends
    them to the target's collection."""
    if batch.target is not None and batch.items:
        vectors.store(batch.target.model_id, {item.image.pk: item.target_vector for item in batch.items})


def save_variants(image_id: int, prepared: Prepared) -> None:
    replace_variants(image_id, prepared.pdq_variants)


def replace_variants(image_id: int, found: list[PdqVariant]) -> None:
    """The image's hash variants in the database become `found` (all kinds, queried or stored)."""
    variants = [
        HashVariant(image_id=image_id, kind=v.kind, pdq_hash=v.pdq_hash, quality=v.quality) for v in found
    ]
    try:
        with transaction.atomic():
            # Locked so a concurrent delete waits; gone already: nothing to keep.
            if not Image.objects.select_for_update().filter(pk=image_id).exists():
                return
            HashVariant.objects.filter(image_id=image_id).delete()
            HashVariant.objects.bulk_create(variants)
    except IntegrityError:
        log.info("Image %s was deleted while it was indexed; its hashes are not kept", image_id)


def screen_batch(batch: Batch) -> None:
    """Withheld images are published as public to nobody: read back what the receivers decided."""
    screen(batch.ids)
    decided = dict(Image.objects.filter(pk__in=batch.ids).values_list("pk", "moderation"))
    for item in batch.items:
        item.image.moderation = decided.get(item.image.pk, item.image.moderation)


def mark_indexed(batch: Batch) -> None:
    states.mark_indexed(batch.ids, timezone.now())


def drop_deleted(batch: Batch) -> set[int]:
    remaining = set(Image.objects.filter(pk__in=batch.ids).values_list("pk", flat=True))
    gone = [item.image for item in batch.items if item.image.pk not in remaining]
    if gone:
        index.unpublish(gone)
        for image in gone:
            delete_if_unreferenced(image.thumbnail.name)
    return {image.pk for image in gone}


def index_images(ids: list[int], *, force: bool = False, encoder: Encoder | None = None) -> IndexReport:
    """Index a batch. Raises ModelUnavailable / VectorStoreError with rows left pending."""
    encoder = encoder or get_encoder(switching.active_model_or_current())
    batch = select(ids, encoder.model_id, force)
    batch.target = switching.dual_encoder(encoder.model_id)
    prepare_all(batch, encoder)
    return index_prepared(batch, encoder)


def index_prepared(batch: Batch, encoder: Encoder) -> IndexReport:
    """The stages after preparation: one forward pass (per encoder batch) and one Milvus write."""
    if not batch.items:
        return batch.report
    encode(batch, encoder)
    persist(batch, encoder)
    persist_target(batch)
    screen_batch(batch)
    index.publish([item.image for item in batch.items])
    mark_indexed(batch)
    gone = drop_deleted(batch)
    batch.report.indexed = sorted(set(batch.ids) - gone)
    labels.label_indexed(batch.report.indexed, encoder)
    announce_indexed(batch.report.indexed)
    return batch.report


def index_stream(
    first: list[int],
    next_ids: Callable[[], list[int]],
    *,
    force: bool = False,
    encoder: Encoder | None = None,
    on_batch: Callable[[list[int], IndexReport], None] | None = None,
) -> IndexReport:
    """Index `first`, then whatever `next_ids()` hands out until it hands out nothing, with the next
    batch prepared (decoded, sized, hashed, turned into model inputs) in the pool while this one is
    encoded, persisted and published. At most one batch is prepared ahead: memory stays bounded at
    two batches of model inputs and WebP sizes. `on_batch(ids, report)` follows each batch (its
    leases can go, its OCR can be queued). An exception leaves the rows of this batch and of the
    one prepared ahead pending (the caller knows them: it handed them out)."""
    encoder = encoder or get_encoder(switching.active_model_or_current())
    total = IndexReport()
    threads = max(1, settings.PREPARE_THREADS)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prepare") as pool:

        def start(ids: list[int]) -> tuple[list[int], Batch, list[Future]]:
            batch = select(ids, encoder.model_id, force)
            batch.target = switching.dual_encoder(encoder.model_id)
            return ids, batch, start_prepare(batch, encoder, pool)

        current = start(first) if first else None
        try:
            while current:
                ids, batch, futures = current
                upcoming = next_ids()
                # Submitted before this batch's forward pass: the pool prepares it meanwhile.
                current = start(upcoming) if upcoming else None
                finish_prepare(batch, futures)
                report = index_prepared(batch, encoder)
                total.indexed += report.indexed
                total.failed.update(report.failed)
                total.skipped += report.skipped
                if on_batch:
                    on_batch(ids, report)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # the batch prepared ahead is not waited for
            raise
    return total


def note_pending(ids: list[int], reason: str) -> None:
    """Say why images are still pending (shown in the UI and API) without failing them."""
    states.note_pending_reason(ids, reason)
