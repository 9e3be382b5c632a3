"""Worker start-up and shut-down (connected to Celery's signals in `SearchConfig.ready()`): load the
encoder in the background with the torch threads of the worker's role (or, on a worker that only
reads words, the OCR engine), publish its state, sweep pending images."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from ..engines.encoder import get_encoder, start_loading_in_background, use_model
from . import claims, switching, text_reading
from .reconcile import requeue_pending
from .worker_status import Heartbeat

log = logging.getLogger(__name__)
_heartbeat: Heartbeat | None = None


def consumed_queues(consumer) -> list[str]:
    try:
        return sorted(consumer.app.amqp.queues.consume_from)
    except AttributeError:
        return [settings.INGEST_QUEUE]


def sweep_pending(hostname: str = "") -> None:
    """Images left pending by a dead worker, a broker outage or a model swap are queued again; the
    images this worker's previous life held (killed mid-batch) are freed first."""
    try:
        if hostname:
            freed = claims.release_owner(hostname)
            if freed:
                log.info("Freed %d image(s) a previous run of %s was indexing", freed, hostname)
        count = requeue_pending(timedelta(0), model_id=get_encoder().model_id)
        if count:
            log.info("Queued %d pending or out-of-date image(s) for indexing", count)
        mended = switching.heal()  # a model switch under way goes on (its build is queued again)
        if any(mended.values()):
            log.info("Model switch: %s", mended)
    except Exception:
        log.exception("Sweeping pending images failed; `manage.py reconcile` can redo it")


def torch_threads(queues: list[str]) -> int:
    """The query worker's torch threads are its own setting (short requests, several at once)."""
    if queues == [settings.QUERY_QUEUE]:
        return settings.QUERY_TORCH_THREADS
    return settings.TORCH_NUM_THREADS


def on_worker_ready(sender, **kwargs) -> None:
    global _heartbeat
    queues = consumed_queues(sender)
    if set(queues) <= {settings.OCR_QUEUE}:
        # A worker that only reads words needs no CLIP model: it loads its OCR engine instead.
        _heartbeat = Heartbeat(sender.hostname, queues, state=text_reading.reader_state)
        text_reading.start_warming_up()
        _heartbeat.start()
        return
    use_model(switching.active_model_or_current())  # the model the switch row names, else CLIP_MODEL
    start_loading_in_background(torch_threads(queues))
    ingest = settings.INGEST_QUEUE in queues
    hostname = sender.hostname
    on_ready = (lambda: sweep_pending(hostname)) if ingest else None
    _heartbeat = Heartbeat(hostname, queues, on_ready=on_ready, on_beat=_on_beat(ingest))
    _heartbeat.start()


def _on_beat(ingest: bool):
    """Every heartbeat: follow the active model (a switch reaches every worker within one beat;
    the query worker loads a switch's target ahead, so the switch finds it ready) and, on the
    ingest worker, renew the leases on images."""

    def beat() -> None:
        switching.follow(preload_target=not ingest)
        if ingest:
            claims.renew_all()

    return beat


def on_worker_shutdown(sender=None, **kwargs) -> None:
    if _heartbeat:
        _heartbeat.stop()
