"""Queueing indexing work for the ingest worker, without ever failing or losing an upload."""

from __future__ import annotations

import logging
import time

from celery import current_app

log = logging.getLogger(__name__)

INDEX_TASK = "search.tasks.index_images"
# After a failed enqueue, stop trying for a while so a batch upload during a Redis outage does not
# wait on each file; `reconcile` and every worker start re-queue what stayed pending.
BROKER_BACKOFF_SECONDS = 30
_broker_down_since: float | None = None


def enqueue_indexing(ids: list[int], force: bool = False) -> bool:
    """Queue indexing of `ids`; False (rows stay pending) when the broker is unreachable."""
    global _broker_down_since
    if _broker_down_since and time.monotonic() - _broker_down_since < BROKER_BACKOFF_SECONDS:
        return False
    try:
        # By name: the task module imports the pipeline, which must not import this one back.
        current_app.send_task(INDEX_TASK, args=[list(ids)], kwargs={"force": force}, retry=False)
    except Exception as exc:  # any broker failure must not lose or fail the upload
        _broker_down_since = time.monotonic()
        log.warning("Could not queue indexing of %d image(s), they stay pending: %s", len(ids), exc)
        return False
    _broker_down_since = None
    return True
