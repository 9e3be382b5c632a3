"""Switching the embedding model without downtime.

One row (`search.models.ModelSwitch`) names the active model: searches, `image:ID` vectors and the
workers' encoders follow it (`active_model_id`; no row, or `CLIP_MODEL` changed since the row was
written: `CLIP_MODEL`). A switch:

1. `start(X)` names X the target and queues `build` on the ingest queue.
2. `build` encodes, batch after batch, every indexed image still without a vector of X, keeping
   each vector as a `ModelEmbedding` row (`search.vectors`: the database stays the source of
   truth, one row per image and model, the active model's included) and in X's own
   collection. Those rows are the cursor: a build stopped anywhere (worker killed, restart, Redis
   down) picks up where it stopped. Each task does a few batches, then queues the next, so uploads
   waiting on the same queue are never held up behind a whole collection. Meanwhile new uploads
   are indexed by both models (`search.pipeline.indexing`), and searches keep using the active model.
3. Once every indexed image has a vector of X (and X's collection holds them all), `activate`
   names X active, one update of the row: from its commit on, everything (searches, similar,
   duplicates, `image:ID`, labels) reads X's rows. Nothing is copied. The old model's vectors stay
   (its rows, and its collection) until `drop_previous`, a deliberate step, never automatic,
   deletes them.

Images a worker indexed with the old model only, just across the switch, have no row of X: they
are queued for re-indexing (`queue_outdated`). `heal` (reconcile runs it too) deletes the vectors
of models neither active, target nor previous that an active vector supersedes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import redis
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import BadInput
from ingestion import states
from ingestion.models import Image
from ingestion.processing import decode
from ingestion.storage import read_file

from .. import index, vectors
from ..engines.encoder import (
    EncoderState,
    ModelUnavailable,
    current_model,
    encoder_state,
    get_encoder,
    release_models,
    start_loading_in_background,
    use_model,
)
from ..models import ModelEmbedding, ModelSwitch
from .queueing import enqueue_indexing
from .worker_status import redis_client

if TYPE_CHECKING:  # the class lives beside torch, which only the workers load
    from ..engines.encoder import Encoder

log = logging.getLogger(__name__)

BUILD_TASK = "search.tasks.build_model"
BATCHES_PER_TASK = 8  # then the task queues its successor: uploads in the queue go in between
LOCK_KEY = "imagesearch:model-build"
QUEUED_KEY = "imagesearch:model-build-queued"  # a build task waits in the queue
LOCK_SECONDS = 600  # a dead builder's lock lapses; a live one renews it every batch
MAX_MODEL_ID = 255


def _row() -> ModelSwitch | None:
    return ModelSwitch.objects.filter(pk=1).first()


def _locked_row() -> ModelSwitch:
    ModelSwitch.objects.get_or_create(pk=1)
    return ModelSwitch.objects.select_for_update().get(pk=1)


def active_model_id(row: ModelSwitch | None = None) -> str:
    """The model searches and indexing use: the row's, unless CLIP_MODEL changed since it was written."""
    row = row if row is not None else _row()
    if row and row.active and row.configured == settings.CLIP_MODEL:
        return row.active
    return settings.CLIP_MODEL


def active_model_or_current() -> str:
    """For the workers' hot paths: the row's active model, or, if the database cannot answer,
    the model this process already uses (it follows the row on every heartbeat)."""
    try:
        return active_model_id()
    except Exception as exc:  # a search must not fail because the switch row is unreadable
        log.debug("Active model unreadable, keeping %s: %s", current_model(), exc)
        return current_model()


def active_vectors(image_ids: Iterable[int]) -> tuple[str, dict[int, np.ndarray]]:
    """The active model and its vectors of these images (those without one are left out): the
    vectors similar, duplicates, `image:ID` and the ban checks read."""
    model_id = active_model_id()
    return model_id, vectors.of_images(image_ids, model_id)


def target_model_id() -> str:
    row = _row()
    return row.target if row else ""


# ---------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class Progress:
    active: str
    target: str
    done: int  # indexed images with a vector of the target
    total: int  # indexed images
    previous: str  # the model switched away from, its vectors and collection not dropped yet
    error: str
    started_at: datetime | None
    switched_at: datetime | None

    @property
    def percent(self) -> float:
        return round(100.0 * self.done / self.total, 1) if self.total else 100.0

    def as_dict(self) -> dict:
        found = asdict(self)
        for key in ("started_at", "switched_at"):
            found[key] = found[key].isoformat() if found[key] else None
        found["percent"] = self.percent
        return found


def _missing(model_id: str):
    """Indexed images without a vector of `model_id`: the build's work, and its cursor."""
    return Image.objects.filter(status=Image.Status.INDEXED).exclude(pk__in=vectors.holder_ids(model_id))


def progress() -> Progress:
    """Where the switch stands; the counts only while one is under way (each is a scan)."""
    row = _row() or ModelSwitch()
    total = done = 0
    if row.target:
        total = Image.objects.filter(status=Image.Status.INDEXED).count()
        done = total - _missing(row.target).count()
    return Progress(
        active=active_model_id(row),
        target=row.target,
        done=done,
        total=total,
        previous=row.previous,
        error=row.error,
        started_at=row.started_at,
        switched_at=row.switched_at,
    )


# ---------------------------------------------------------------------------- commands


def clean_model_id(model_id: str) -> str:
    model_id = (model_id or "").strip()
    if not model_id:
        raise BadInput("Name the model to switch to.")
    if len(model_id) > MAX_MODEL_ID or not model_id.isprintable():
        raise BadInput(f"A model id is at most {MAX_MODEL_ID} printable characters.")
    return model_id


def start(model_id: str) -> Progress:
    """Begin building `model_id`'s collection in the background (or resume it). BadInput when it
    is already active or another switch is under way."""
    model_id = clean_model_id(model_id)
    with transaction.atomic():
        row = _locked_row()
        if model_id == active_model_id(row):
            raise BadInput(f"{model_id} is already the active model.")
        if row.target and row.target != model_id:
            raise BadInput(f"A switch to {row.target} is under way; cancel it first.")
        if row.previous == model_id:  # switching back: its kept vectors are a head start
            row.target_dim, row.previous, row.previous_dim = row.previous_dim, "", 0
        if row.target != model_id:
            row.target, row.started_at = model_id, timezone.now()
        row.error = ""
        row.save()
    transaction.on_commit(lambda: queue_build(model_id))
    return progress()


def queue_build(model_id: str, *, unless_busy: bool = False) -> bool:
    """Send the build task by name (the task module imports this one). False if Redis is down:
    the worker's start-up sweep and reconcile queue it again. `unless_busy` (those sweeps): not if
    a build task already waits or runs, so sweeps never start a second chain of tasks."""
    try:
        client = redis_client()
        if unless_busy and client.exists(LOCK_KEY, QUEUED_KEY):
            return False
        client.set(QUEUED_KEY, model_id, ex=LOCK_SECONDS)
        current_app.send_task(BUILD_TASK, args=[model_id], queue=settings.INGEST_QUEUE, retry=False)
    except Exception as exc:
        log.warning("Could not queue the build of %s (queued again by reconcile): %s", model_id, exc)
        return False
    return True


def cancel() -> str:
    """Stop the switch under way and let go of what it built. Returns the model it was building."""
    with transaction.atomic():
        row = _locked_row()
        target, dim = row.target, row.target_dim
        if not target:
            raise BadInput("No model switch is under way.")
        row.target, row.target_dim, row.error = "", 0, ""
        row.save()
        ModelEmbedding.objects.filter(model_id=target).delete()
    if dim:
        index.drop_embedding_store(target, dim)
    return target


def drop_previous() -> str:
    """Delete the vectors and the collection of the model switched away from. Returns its id."""
    with transaction.atomic():
        row = _locked_row()
        previous, dim = row.previous, row.previous_dim
        if not previous:
            raise BadInput("There is no previous model to drop.")
        still = _answering_with(previous, instead_of=active_model_id(row)).count()
        if still:
            raise BadInput(
                f"{still} image(s) still answer with {previous}; they are being indexed again. Try later."
            )
        row.previous, row.previous_dim = "", 0
        row.save()
        ModelEmbedding.objects.filter(model_id=previous).delete()
    if dim:
        index.drop_embedding_store(previous, dim)
    return previous


# ---------------------------------------------------------------------------- building


@dataclass
class BuildReport:
    model: str
    encoded: int = 0
    failed: int = 0
    remaining: int = 0
    switched: bool = False
    stale: bool = False  # the switch was cancelled or finished meanwhile

    def as_dict(self) -> dict:
        return asdict(self)


def _inputs(image_id: int, name: str, encoder: Encoder):
    """Model inputs of one stored original, or the reason it cannot be read."""
    try:
        return encoder.image_inputs(decode(read_file(name)))
    except FileNotFoundError:
        return "The stored original is missing."
    except Exception as exc:  # this image fails alone, as in indexing
        log.warning("Image %s could not be decoded for %s", image_id, encoder.model_id, exc_info=True)
        return f"Could not decode the image: {exc}"


def encode_batch(ids: list[int], encoder: Encoder) -> tuple[int, int]:
    """Encode these indexed images with `encoder`, keep and publish the vectors. (encoded, failed)"""
    names = dict(Image.objects.filter(pk__in=ids).values_list("pk", "original"))
    threads = max(1, min(settings.PREPARE_THREADS, len(names)))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="switch-prepare") as pool:
        outcomes = dict(zip(names, pool.map(lambda pk: _inputs(pk, names[pk], encoder), names), strict=True))
    failed = {pk: why for pk, why in outcomes.items() if isinstance(why, str)}
    for pk, why in failed.items():  # as indexing does: an unreadable original cannot be searched
        states.mark_failed(pk, why)
    good = [pk for pk in outcomes if pk not in failed]
    if not good:
        return 0, len(failed)
    encoded = encoder.encode_image_inputs([outcomes[pk] for pk in good])
    by_id = dict(zip(good, encoded, strict=True))
    kept = vectors.store(encoder.model_id, by_id)
    # Rows as they are now (visibility, moderation), after the vectors are safe in the database.
    images = Image.objects.filter(pk__in=kept)
    store = index.embedding_store(encoder.model_id, encoder.dim)
    store.upsert([index.image_row(image, by_id[image.pk]) for image in images])
    store.flush()
    return len(kept), len(failed)


def _take_lock(client: redis.Redis | None, owner: str) -> bool:
    if client is None:
        return True
    return bool(client.set(LOCK_KEY, owner, nx=True, ex=LOCK_SECONDS))


def build(
    model_id: str,
    *,
    encoder: Encoder | None = None,
    max_batches: int | None = BATCHES_PER_TASK,
    batch_size: int | None = None,
    owner: str = "builder",
    lock: bool = True,
) -> BuildReport:
    """Up to `max_batches` batches of the build of `model_id` (None: to the end), then the switch
    once nothing is missing. One builder at a time (a Redis lock; without Redis, no lock).
    Raises ModelUnavailable (recorded in the row, shown on the status page) and VectorStoreError."""
    report = BuildReport(model_id)
    row = _row()
    if not row or row.target != model_id:
        report.stale = True
        return report
    client = None
    if lock:
        try:
            client = redis_client()
            client.delete(QUEUED_KEY)  # this task is no longer waiting
            if not _take_lock(client, owner):
                report.stale = True  # another worker builds it now
                return report
        except redis.RedisError:
            client = None
    try:
        _build(report, encoder, max_batches, batch_size or settings.INGEST_BATCH_SIZE, client)
    finally:
        if client is not None:
            with contextlib.suppress(redis.RedisError):
                client.delete(LOCK_KEY)
    return report


def _build(
    report: BuildReport,
    encoder: Encoder | None,
    max_batches: int | None,
    size: int,
    client: redis.Redis | None,
) -> None:
    model_id = report.model
    try:
        encoder = encoder or get_encoder(model_id)
    except ModelUnavailable as exc:
        ModelSwitch.objects.filter(pk=1, target=model_id).update(error=str(exc)[:2000])
        raise
    ModelSwitch.objects.filter(pk=1, target=model_id).update(target_dim=encoder.dim, error="")
    batches = 0
    while max_batches is None or batches < max_batches:
        if target_model_id() != model_id:  # cancelled meanwhile
            report.stale = True
            return
        ids = list(_missing(model_id).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            break
        encoded, failed = encode_batch(ids, encoder)
        report.encoded += encoded
        report.failed += failed
        batches += 1
        if client is not None:
            with contextlib.suppress(redis.RedisError):
                client.expire(LOCK_KEY, LOCK_SECONDS)
    report.remaining = _missing(model_id).count()
    if report.remaining == 0:
        report.switched = activate(model_id, encoder.dim)


def activate(model_id: str, dim: int) -> bool:
    """The switch: make sure the target's collection holds every image, then name the target
    active (one update of the row). False if it cannot yet."""
    wanted = vectors.published_ids(model_id)
    index.sync_collection(index.embedding_store(model_id, dim), wanted, index.model_rows(model_id))
    with transaction.atomic():
        row = _locked_row()
        if row.target != model_id or _missing(model_id).exists():
            return False
        old = active_model_id(row)
        old_dim = vectors.dimension(old)
        row.active, row.configured = model_id, settings.CLIP_MODEL
        row.previous, row.previous_dim = (old, old_dim) if old_dim else ("", 0)
        row.target, row.target_dim, row.error = "", 0, ""
        row.switched_at = timezone.now()
        row.save()
    log.info("Switched the active model from %s to %s", old, model_id)
    transaction.on_commit(lambda: queue_outdated(model_id))
    return True


def _answering_with(model_id: str, *, instead_of: str):
    """Images (not failed) that have a vector of `model_id` but none of `instead_of`: indexed
    with the old model only, across a switch, and waiting to be indexed again."""
    return (
        Image.objects.filter(pk__in=vectors.holder_ids(model_id))
        .exclude(pk__in=vectors.holder_ids(instead_of))
        .exclude(status=Image.Status.FAILED)
    )


def queue_outdated(model_id: str) -> int:
    """Indexed images still answering with another model (indexed across the switch without a
    vector of the new one) go back to the ingest worker."""
    ids = sorted(
        Image.objects.filter(status=Image.Status.INDEXED)
        .exclude(pk__in=vectors.holder_ids(model_id))
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), settings.INGEST_BATCH_SIZE):
        if not enqueue_indexing(ids[start : start + settings.INGEST_BATCH_SIZE]):
            break
    return len(ids)


def heal() -> dict:
    """Mend what a switch can leave behind: vectors of models neither active, target nor previous
    (a cancelled build's last batch, a model CLIP_MODEL replaced) are deleted once the image has
    an active vector (never an image's only vector: a process started with another CLIP_MODEL
    must not wipe the collection), and the build under way is queued again (a lost message, a
    restart). Run by reconcile and the ingest worker's start-up sweep."""
    row = _row() or ModelSwitch()
    active = active_model_id(row)
    keep = {m for m in (active, row.target, row.previous) if m}
    superseded = ModelEmbedding.objects.exclude(model_id__in=keep).filter(
        image_id__in=vectors.holder_ids(active)
    )
    stray = superseded.delete()[0]
    queued = bool(row.target) and queue_build(row.target, unless_busy=True)
    return {"stray_vectors_deleted": stray, "build_queued": queued}


# ---------------------------------------------------------------------------- the workers' side


def dual_encoder(active: str) -> Encoder | None:
    """During a switch, the target model's encoder, loaded lazily in this worker, so new uploads
    are indexed by both models. None outside a switch, or if the target cannot be loaded (the
    build then encodes those images later)."""
    try:
        target = target_model_id()
    except Exception:
        return None
    if not target or target == active:
        return None
    try:
        return get_encoder(target)
    except ModelUnavailable as exc:
        log.warning("New uploads are indexed by %s only; %s", active, exc)
        return None


def follow(*, preload_target: bool) -> None:
    """Make this process use the active model, load it (and, with `preload_target`, the target,
    so the switch finds the query worker ready) and let go of models no longer needed. Run on
    every heartbeat; never raises."""
    try:
        row = _row()
        active = active_model_id(row)
        target = row.target if row else ""
    except Exception as exc:
        log.debug("Model switch row unreadable: %s", exc)
        return
    use_model(active)
    wanted = [active, target] if preload_target and target else [active]
    for model_id in wanted:
        if encoder_state(model_id)[0] == EncoderState.IDLE:
            start_loading_in_background(model_id=model_id)
    release_models({active, target} - {""})
