"""Celery tasks. Ingest queue: indexing and reconcile. OCR queue (consumed by the ingest worker):
reading the words inside indexed images. Query queue: query-time embeddings, kept
apart so searches never wait behind an ingest backlog (routes in settings.CELERY_TASK_ROUTES)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

from celery import shared_task
from django.conf import settings

from ingestion.processing import decode

from . import indexing, queueing, text_reading
from .encoder import EncoderState, ModelUnavailable, encoder_state, get_encoder
from .reconcile import reconcile
from .vector_store import VectorStoreError

log = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="search.tasks.index_images",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(VectorStoreError,),
    max_retries=6,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
)
def index_images(self, ids: list[int], force: bool = False) -> dict:
    try:
        report = indexing.index_images(ids, force=force)
        # Words inside the images are read afterwards, from the `ocr` queue: never before `indexed`.
        text_reading.enqueue_ocr(report.indexed)
        return report.as_dict()
    except ModelUnavailable as exc:
        # Retrying cannot help until the model is fixed; rows stay pending and are
        # re-queued when a worker starts with a usable model.
        log.error("Indexing %d image(s) postponed: %s", len(ids), exc)
        indexing.note_pending(ids, f"Waiting for the model: {exc}")
        return {"pending": ids, "reason": str(exc)}
    except VectorStoreError as exc:
        indexing.note_pending(ids, f"Waiting for Milvus: {exc}")
        raise  # retried with back-off by autoretry_for


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


def _embed(vectors: Callable) -> dict:
    """One query vector, or an error the web side maps to 400 (bad input) or 503 (model)."""
    try:
        if encoder_state()[0] == EncoderState.LOADING:
            # Answer at once rather than outlast the caller's short timeout.
            raise ModelUnavailable("The model is still loading; try again in a moment.")
        encoder = get_encoder()
        return {"model": encoder.model_id, "dim": encoder.dim, "vector": vectors(encoder)[0].tolist()}
    except ModelUnavailable as exc:
        return {"error": str(exc), "kind": "model"}
    except (OSError, ValueError, SyntaxError) as exc:
        return {"error": f"The image could not be decoded: {exc}", "kind": "input"}


@shared_task(name="search.tasks.embed_text")
def embed_text(text: str) -> dict:
    return _embed(lambda encoder: encoder.encode_texts([text]))


@shared_task(name="search.tasks.embed_texts")
def embed_texts(texts: list[str]) -> dict:
    """Every text term of one query in one batch: one round trip, one forward pass."""
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return {"error": "embed_texts needs a non-empty list of strings.", "kind": "input"}
    try:
        if encoder_state()[0] == EncoderState.LOADING:
            raise ModelUnavailable("The model is still loading; try again in a moment.")
        encoder = get_encoder()
        vectors = encoder.encode_texts(texts)
        return {"model": encoder.model_id, "dim": encoder.dim, "vectors": [v.tolist() for v in vectors]}
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
