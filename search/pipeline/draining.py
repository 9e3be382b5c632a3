"""Batches across uploads: an indexing task takes whatever is waiting, not just its own ids.

Every upload through the API or the upload page's script queues its own `index_images` task of one
id. Run one by one, each would cost its own forward pass and Milvus write, and INGEST_BATCH_SIZE
would never apply. So a task, when it runs, leases its own ids that still need work plus the oldest
other `pending` rows up to the batch size, waits up to INGEST_BATCH_WAIT_MS for uploads still
committing to fill the batch, and indexes them in one pass; while that batch is encoded it leases
and prepares the next one (`indexing.index_stream`), up to MAX_BATCHES_PER_TASK. The tasks whose
ids were taken along find them indexed and finish at once: 100 single uploads cost about 100/32
forward passes.

Why the database and leases, rather than celery-batches or a Redis list of ids:
- the database already says what waits (a `pending` row) and stays the source of truth: nothing has
  to be kept in step, and a row left pending by a Redis outage, a failed enqueue or a worker that
  died mid-batch is simply taken by the next task that drains (or re-queued by the sweeps);
- leases (`search.pipeline.claims`: one atomic `SET NX EX` per image, renewed by the heartbeat, expiring
  with a dead worker) keep two ingest workers from indexing the same image at once, on SQLite too
  (which has no `SELECT ... SKIP LOCKED`);
- celery-batches buffers messages inside one worker, which needs a large prefetch (this project
  prefetches 1 so acks_late redelivers at most one task of a dead worker) and acknowledges or
  retries messages as a group, and it could not take rows whose message was lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q

from ingestion.models import Image

from .. import vectors
from . import indexing
from .claims import Claims

if TYPE_CHECKING:  # the class lives beside torch, which only the workers load
    from ..engines.encoder import Encoder

log = logging.getLogger(__name__)

# A task drains at most this many batches before it gives the worker back to its queue (reconcile
# and retries wait there too); what is left is taken by the next task.
MAX_BATCHES_PER_TASK = 8
# Leased candidates are looked up this many batches deep, past images other workers hold.
SCAN_DEPTH = 8
POLL_SECONDS = 0.05


def needing_work(ids: list[int], model_id: str, force: bool) -> list[int]:
    """Those of `ids` that still need indexing: not yet indexed with this model (all, if `force`)."""
    rows = Image.objects.filter(pk__in=ids)
    if not force:
        rows = rows.exclude(Q(status=Image.Status.INDEXED) & Q(pk__in=vectors.holder_ids(model_id)))
    return sorted(rows.values_list("pk", flat=True))


def pending_ids(exclude: list[int], limit: int) -> list[int]:
    """The oldest pending rows, first come first served."""
    rows = Image.objects.filter(status=Image.Status.PENDING).exclude(pk__in=exclude).order_by("pk")
    return list(rows.values_list("pk", flat=True)[:limit])


class Drain:
    """Hands out batches of leased image ids: the task's own first, then the oldest pending."""

    def __init__(self, claims: Claims, *, size: int, wait_s: float) -> None:
        self.claims = claims
        self.size = max(1, size)
        self.wait_s = max(0.0, wait_s)

    def _fill(self, batch: list[int]) -> list[int]:
        need = self.size - len(batch)
        if need <= 0:
            return batch
        candidates = self.claims.free(pending_ids(self.claims.held, need + self.size * SCAN_DEPTH))
        return batch + self.claims.take(candidates, limit=need)

    def first(self, own: list[int]) -> list[int]:
        """The own ids nobody else holds (all of them: a task of many ids is already a batch), filled
        up with pending rows; if that is short of a batch, waited for a moment."""
        batch = self._fill(self.claims.take(own))
        if not batch:
            return []  # nothing waits: answer at once
        deadline = time.monotonic() + self.wait_s
        while len(batch) < self.size and time.monotonic() < deadline:
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            batch = self._fill(batch)
        return batch

    def next(self) -> list[int]:
        """The following batch, without waiting: the forward pass running meanwhile is the wait."""
        return self._fill([])


def drain(
    own: list[int],
    claims: Claims,
    *,
    model_id: str,
    force: bool = False,
    on_batch: Callable[[list[int], indexing.IndexReport], None] | None = None,
    on_claimed: Callable[[list[int]], None] | None = None,
    encoder: Encoder | None = None,
) -> indexing.IndexReport:
    """Index the task's own ids and what waits beside them, batch after batch (see the module).
    `on_claimed(ids)` hears of every batch leased, `on_batch(ids, report)` of every batch done."""
    drainer = Drain(claims, size=settings.INGEST_BATCH_SIZE, wait_s=settings.INGEST_BATCH_WAIT_MS / 1000)
    first = drainer.first(needing_work(own, model_id, force))
    if first and on_claimed:
        on_claimed(first)
    batches = 1

    def next_ids() -> list[int]:
        nonlocal batches
        if batches >= MAX_BATCHES_PER_TASK:
            return []
        batches += 1
        upcoming = drainer.next()
        if upcoming and on_claimed:
            on_claimed(upcoming)
        return upcoming

    def finished(ids: list[int], report: indexing.IndexReport) -> None:
        claims.release(ids)
        indexed, failed = len(report.indexed), len(report.failed)
        log.info("Batch of %d image(s): %d indexed, %d failed", len(ids), indexed, failed)
        if on_batch:
            on_batch(ids, report)

    report = indexing.index_stream(first, next_ids, force=force, encoder=encoder, on_batch=finished)
    report.skipped = sorted(set(own) - set(report.indexed) - set(report.failed))
    return report
