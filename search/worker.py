"""Worker start-up and shut-down (connected to Celery's signals in `SearchConfig.ready()`): load the
encoder in the background, publish its state, sweep pending images."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from .encoder import get_encoder, start_loading_in_background
from .reconcile import requeue_pending
from .worker_status import Heartbeat

log = logging.getLogger(__name__)
_heartbeat: Heartbeat | None = None


def consumed_queues(consumer) -> list[str]:
    try:
        return sorted(consumer.app.amqp.queues.consume_from)
    except AttributeError:
        return [settings.INGEST_QUEUE]


def sweep_pending() -> None:
    """Images left pending by a dead worker, a broker outage or a model swap are queued again."""
    try:
        count = requeue_pending(timedelta(0), model_id=get_encoder().model_id)
        if count:
            log.info("Queued %d pending or out-of-date image(s) for indexing", count)
    except Exception:
        log.exception("Sweeping pending images failed; `manage.py reconcile` can redo it")


def on_worker_ready(sender, **kwargs) -> None:
    global _heartbeat
    queues = consumed_queues(sender)
    start_loading_in_background()
    on_ready = sweep_pending if settings.INGEST_QUEUE in queues else None
    _heartbeat = Heartbeat(sender.hostname, queues, on_ready=on_ready)
    _heartbeat.start()


def on_worker_shutdown(sender=None, **kwargs) -> None:
    if _heartbeat:
        _heartbeat.stop()
