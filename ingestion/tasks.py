from __future__ import annotations

import logging

from celery import shared_task

from . import indexing

log = logging.getLogger(__name__)


@shared_task(
    bind=True, name="ingestion.tasks.index_images", max_retries=6, acks_late=True, ignore_result=True
)
def index_images(self, ids: list[int], force: bool = False) -> dict:
    from search.encoder import ModelUnavailable
    from search.vector_store import VectorStoreError

    try:
        return indexing.index_images(ids, force=force).as_dict()
    except ModelUnavailable as exc:
        # Retrying cannot help until the model is fixed; rows stay pending and are
        # re-queued when a worker starts with a usable model.
        log.error("Indexing %d image(s) postponed: %s", len(ids), exc)
        indexing.note_pending(ids, f"Waiting for the model: {exc}")
        return {"pending": ids, "reason": str(exc)}
    except VectorStoreError as exc:
        indexing.note_pending(ids, f"Waiting for Milvus: {exc}")
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc


@shared_task(name="ingestion.tasks.reconcile_task")
def reconcile_task() -> dict:
    from .reconcile import reconcile

    return reconcile().as_dict()
