"""Worker start-up: load the encoder in the background, publish its state, sweep pending images."""

from __future__ import annotations

import logging

from django.conf import settings

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
    from datetime import timedelta

    from ingestion.reconcile import requeue_pending

    from .encoder import get_encoder

    try:
        count = requeue_pending(timedelta(0), model_id=get_encoder().model_id)
        if count:
            log.info("Queued %d pending or out-of-date image(s) for indexing", count)
    except Exception:
        log.exception("Sweeping pending images failed; `manage.py reconcile` can redo it")


def on_worker_ready(consumer) -> None:
    global _heartbeat
    from .encoder import start_loading_in_background

    queues = consumed_queues(consumer)
    start_loading_in_background()
    on_ready = sweep_pending if settings.INGEST_QUEUE in queues else None
    _heartbeat = Heartbeat(consumer.hostname, queues, on_ready=on_ready)
    _heartbeat.start()


def on_worker_shutdown() -> None:
    if _heartbeat:
        _heartbeat.stop()
