"""Queueing indexing work for the ingest worker, without ever failing or losing an upload.

An enqueue that fails (Redis down) leaves the rows pending and marks them with UNQUEUED_REASON;
`requeue_unqueued`, run by beat every 30 s (settings.CELERY_BEAT_SCHEDULE), queues the marked rows
again as soon as the broker answers, so recovery takes seconds, not the next reconcile."""

from __future__ import annotations

import logging
import time

from celery import current_app
from django.conf import settings
from django.db import DatabaseError

from ingestion import states
from ingestion.models import Image

log = logging.getLogger(__name__)

INDEX_TASK = "search.tasks.index_images"
# After a failed enqueue, stop trying for a while so a batch upload during a Redis outage does not
# wait on each file; the marked rows are swept up when the broker is back.
BROKER_BACKOFF_SECONDS = 30
# Shown with the pending image (API and pages) until it is queued.
UNQUEUED_REASON = "Waiting for the task queue (Redis was unreachable); it is queued again once it is back."
_broker_down_since: float | None = None


def _mark_unqueued(ids: list[int]) -> None:
    try:
        # updated_at kept: reconcile's age of the pending row must not restart with each failure.
        states.note_pending_reason(ids, UNQUEUED_REASON, touch=False)
    except DatabaseError:  # the rows stay pending either way; reconcile still finds them
        log.warning("Could not mark %d image(s) as waiting for the queue", len(ids), exc_info=True)


def enqueue_indexing(ids: list[int], force: bool = False, *, backoff: bool = True) -> bool:
    """Queue indexing of `ids`; False (rows stay pending, marked for the sweep) when the broker is
    unreachable. `backoff=False` tries even right after a failure (the sweep: its own task just
    came through the broker)."""
    global _broker_down_since
    recently_down = _broker_down_since and time.monotonic() - _broker_down_since < BROKER_BACKOFF_SECONDS
    if backoff and recently_down:
        _mark_unqueued(ids)
        return False
    try:
        # By name: the task module imports the pipeline, which must not import this one back.
        current_app.send_task(INDEX_TASK, args=[list(ids)], kwargs={"force": force}, retry=False)
    except Exception as exc:  # any broker failure must not lose or fail the upload
        _broker_down_since = time.monotonic()
        log.warning("Could not queue indexing of %d image(s), they stay pending: %s", len(ids), exc)
        _mark_unqueued(ids)
        return False
    _broker_down_since = None
    return True


def requeue_unqueued() -> int:
    """Queue again the pending images whose enqueue failed; returns how many were queued."""
    marked = Image.objects.filter(status=Image.Status.PENDING, failure_reason=UNQUEUED_REASON)
    ids = sorted(marked.values_list("pk", flat=True))
    queued = 0
    for start in range(0, len(ids), settings.INGEST_BATCH_SIZE):
        batch = ids[start : start + settings.INGEST_BATCH_SIZE]
        if not enqueue_indexing(batch, backoff=False):
            break
        states.clear_pending_reason(batch, UNQUEUED_REASON)
        queued += len(batch)
    if queued:
        log.info("Queued %d image(s) whose enqueue had failed while the broker was down", queued)
    return queued
