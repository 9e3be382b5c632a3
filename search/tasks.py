"""Celery tasks. Ingest queue: indexing, reconcile and building a model switch's collection.
OCR queue (its own worker): reading the words inside indexed images. Query queue: query-time
embeddings, kept apart so searches never wait behind an ingest backlog (routes in
settings.CELERY_TASK_ROUTES; the build task names its queue when it is sent)."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from celery import current_task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from ingestion.processing import decode

from .engines.encoder import EncoderState, ModelUnavailable, encoder_state, get_encoder, wait_for_encoder
from .engines.vector_store import VectorStoreError
from .pipeline import draining, indexing, labels, queueing, rehashing, switching, text_reading, worker_status
from .pipeline.claims import Claims
from .pipeline.reconcile import reconcile

log = logging.getLogger(__name__)


@shared_task(bind=True, name="search.tasks.index_images", acks_late=True, ignore_result=True, max_retries=6)
def index_images(self, ids: list[int], force: bool = False) -> dict:
    """Index `ids` and whatever else is pending beside them, in batches (search.pipeline.draining), with the
    active model (search.pipeline.switching; during a switch, with the target model too)."""
    try:
        encoder = get_encoder(switching.active_model_or_current())
    except ModelUnavailable as exc:
        # Retrying cannot help until the model is fixed; rows stay pending and are
        # re-queued when a worker starts with a usable model.
        log.error("Indexing %d image(s) postponed: %s", len(ids), exc)
        indexing.note_pending(ids, f"Waiting for the model: {exc}")
        return {"pending": ids, "reason": str(exc)}
    try:
        claims = Claims(self.request.hostname or "")
        claims.client.ping()  # Redis answers? Else index just our own ids, as before batching existed.
    except redis.RedisError as exc:
        log.warning("Indexing %d image(s) without leases (Redis: %s)", len(ids), exc)
        report = indexing.index_images(ids, force=force, encoder=encoder)
        text_reading.enqueue_ocr(report.indexed)
        return report.as_dict()

    def batch_done(batch_ids: list[int], report: indexing.IndexReport) -> None:
        # Words inside the images are read afterwards, from the `ocr` queue: never before `indexed`.
        text_reading.enqueue_ocr(report.indexed)
        _mark(self.request.id, claims.held)

    def claimed(batch_ids: list[int]) -> None:
        _mark(self.request.id, claims.held)

    with claims:
        try:
            report = draining.drain(
                ids,
                claims,
                model_id=encoder.model_id,
                force=force,
                on_batch=batch_done,
                on_claimed=claimed,
                encoder=encoder,
            )
        except ModelUnavailable as exc:
            log.error("Indexing %d image(s) postponed: %s", len(claims.held), exc)
            indexing.note_pending(claims.held, f"Waiting for the model: {exc}")
            return {"pending": claims.held, "reason": str(exc)}
        except redis.RedisError as exc:
            # The broker itself is gone: no retry can be sent. Marked as unqueued, the rows are queued
            # again by the 30-second sweep once it is back (search.pipeline.queueing).
            held = sorted(set(ids) | set(claims.held))
            log.warning("Indexing %d image(s) stopped, Redis failed: %s", len(held), exc)
            indexing.note_pending(held, queueing.UNQUEUED_REASON)
            return {"pending": held, "reason": str(exc)}
        except VectorStoreError as exc:
            # Every image this task held goes into the retry: the tasks of the images it took along
            # have finished, finding them taken.
            held = sorted(set(ids) | set(claims.held))
            indexing.note_pending(held, f"Waiting for Milvus: {exc}")
            countdown = get_exponential_backoff_interval(5, self.request.retries, 300, full_jitter=True)
            raise self.retry(args=[held], kwargs={"force": force}, exc=exc, countdown=countdown) from exc
    return report.as_dict()


def _mark(task_id: str | None, ids: list[int]) -> None:
    """The status page's "being indexed now": what this task holds, not just its own ids."""
    if task_id:
        with contextlib.suppress(redis.RedisError):
            worker_status.mark_indexing(task_id, ids)


@shared_task(name="search.tasks.ocr_images", acks_late=True, ignore_result=True)
def ocr_images(ids: list[int], force: bool = False) -> dict:
    return text_reading.read_images(ids, force=force).as_dict()


@shared_task(name="search.tasks.requeue_unqueued", ignore_result=True)
def requeue_unqueued_task() -> int:
    """Run by beat every 30 s: images whose enqueue failed during an outage."""
    return queueing.requeue_unqueued()


@shared_task(name="search.tasks.reconcile")
def reconcile_task() -> dict:
    return reconcile().as_dict()


@shared_task(
    bind=True, name=rehashing.TASK, acks_late=True, ignore_result=True, max_retries=6, default_retry_delay=30
)
def rehash_images(self) -> dict:
    """A batch of images hashed before the newest variants existed (search.pipeline.rehashing)."""
    try:
        return rehashing.run_batch()
    except (VectorStoreError, redis.RedisError) as exc:
        raise self.retry(exc=exc)


@shared_task(
    bind=True, name=labels.TASK, acks_late=True, ignore_result=True, max_retries=6, default_retry_delay=30
)
def label_images(self) -> dict:
    """A batch of indexed images without suggested labels from the active model (search.pipeline.labels)."""
    try:
        return labels.run_batch()
    except ModelUnavailable:
        labels.end_chain()  # no model to embed the prompts with: the next reconcile tries again
        return {"labelled": 0, "remaining": None}
    except redis.RedisError as exc:
        raise self.retry(exc=exc)


@shared_task(bind=True, name=switching.BUILD_TASK, acks_late=True, ignore_result=True, max_retries=None)
def build_model(self, model_id: str) -> dict:
    """A few batches of a model switch's build, then the next task (uploads queued meanwhile go
    first), or the switch itself once every image has a vector of `model_id`."""
    try:
        report = switching.build(model_id, owner=self.request.hostname or "builder")
    except ModelUnavailable as exc:
        # Recorded in the switch row (status page); reconcile queues the build again.
        log.error("Building %s postponed: %s", model_id, exc)
        return {"model": model_id, "error": str(exc)}
    except VectorStoreError as exc:
        countdown = get_exponential_backoff_interval(5, self.request.retries, 300, full_jitter=True)
        raise self.retry(exc=exc, countdown=countdown) from exc
    if not report.stale and not report.switched and report.remaining:
        switching.queue_build(model_id)
    return report.as_dict()


# Answer this long before the caller gives up, so it hears "still loading" rather than a timeout.
ANSWER_MARGIN_S = 0.5


def _time_left() -> float:
    """Seconds until the web side stops waiting: the message expires when it does (queries._ask)."""
    request = current_task.request if current_task else None
    expires = getattr(request, "expires", None)
    if expires:
        try:
            when = datetime.fromisoformat(expires) if isinstance(expires, str) else expires
            return (when - datetime.now(when.tzinfo or UTC)).total_seconds() - ANSWER_MARGIN_S
        except (TypeError, ValueError):
            pass
    return settings.QUERY_TIMEOUT - ANSWER_MARGIN_S


def _query_encoder():
    """The active model (read for each query: a switch takes effect at once), waiting for it while
    the worker is still loading it (within the caller's time)."""
    model_id = switching.active_model_or_current()
    if encoder_state(model_id)[0] == EncoderState.LOADING:
        return wait_for_encoder(_time_left(), model_id)
    return get_encoder(model_id)


def _embed(vectors: Callable) -> dict:
    """One query vector, or an error the web side maps to 400 (bad input) or 503 (model)."""
    try:
        encoder = _query_encoder()
        return {"model": encoder.model_id, "dim": encoder.dim, "vector": vectors(encoder)[0].tolist()}
    except ModelUnavailable as exc:
        return {"error": str(exc), "kind": "model"}
    except (OSError, ValueError, SyntaxError) as exc:
        return {"error": f"The image could not be decoded: {exc}", "kind": "input"}


@shared_task(name="search.tasks.embed_texts")
def embed_texts(texts: list[str]) -> dict:
    """Every text term of one query in one batch: one round trip, one forward pass."""
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return {"error": "embed_texts needs a non-empty list of strings.", "kind": "input"}
    try:
        encoder = _query_encoder()
        vectors = encoder.encode_texts(texts)
        return {
            "model": encoder.model_id,
            "dim": encoder.dim,
            "vectors": [v.tolist() for v in vectors],
            # Characters of each text the model read (None: all): a longer query is cut, not refused.
            "read": [encoder.characters_read(t) for t in texts],
        }
    except ModelUnavailable as exc:
        return {"error": str(exc), "kind": "model"}


@shared_task(name="search.tasks.embed_image")
def embed_image(data_b64: str) -> dict:
    # The web side sends it reduced (ingestion.validation.reduce_query_image); bounded here anyway.
    def vectors(encoder):
        data = base64.b64decode(data_b64)
        image = decode(data, max_side=settings.QUERY_IMAGE_SIDE, max_pixels=settings.MAX_QUERY_IMAGE_PIXELS)
        return encoder.encode_images([image])

    return _embed(vectors)
