"""Celery tasks of moderation, on the ingest queue (routes in settings.CELERY_TASK_ROUTES):
retroactive matching of new bans against the stored images (`moderation.rescans`)."""

from __future__ import annotations

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from search.engines.vector_store import VectorStoreError

from . import rescans


@shared_task(bind=True, name=rescans.TASK, acks_late=True, ignore_result=True, max_retries=None)
def rescan_bans(self, job_id: int) -> bool:
    """A few batches of a retroactive match, then the next step (uploads queued meanwhile go first)."""
    try:
        more = rescans.run(job_id)
    except VectorStoreError as exc:  # Milvus is away: the cursor holds, try again later
        countdown = get_exponential_backoff_interval(5, self.request.retries, 300, full_jitter=True)
        raise self.retry(exc=exc, countdown=countdown) from exc
    if more:
        rescans.queue(job_id)
    return more


@shared_task(name="moderation.tasks.resume_rescans", ignore_result=True)
def resume_rescans() -> list[int]:
    """Beat: retroactive matches left behind by a crash or a lost message are queued again."""
    return rescans.resume()
