"""Background catch-up as a chain of ingest tasks (the rehash of older images, their labels): one
task does a batch and queues the next while work remains, so uploads queued meanwhile go between
links. A Redis mark keeps it to one chain per kind; a chain lost with a worker is started again by
a later `reconcile` once its mark expires."""

from __future__ import annotations

import logging

import redis
from celery import current_app

from .worker_status import redis_client

log = logging.getLogger(__name__)

MARK_SECONDS = 900


def start(task: str, mark: str) -> bool:
    """Queue the first link unless a chain is under way; False when nothing was queued (one
    running, or Redis down: the next `reconcile` tries again)."""
    try:
        if not redis_client().set(mark, "queued", nx=True, ex=MARK_SECONDS):
            return False
        current_app.send_task(task, retry=False)  # by name: the task module imports the pipeline
    except (redis.RedisError, OSError) as exc:
        log.warning("Could not queue %s (%s); the next reconcile tries again", task, exc)
        return False
    return True


def follow(task: str, mark: str, *, progressed: bool, remaining: int) -> None:
    """After a link: queue the next while it progressed and work remains, else end the chain (a
    batch that did nothing would loop forever; reconcile decides later)."""
    client = redis_client()
    if progressed and remaining:
        client.set(mark, "running", ex=MARK_SECONDS)
        current_app.send_task(task, retry=False)
    else:
        client.delete(mark)
