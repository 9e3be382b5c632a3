"""Retroactive matching (HMA's "match what is already stored"): a new ban or an imported list is
matched against the images stored before it, in the background, with progress a moderator can
follow. The judgement is `ban_matching.apply_bans` (the one copy judgement, each bank at its own
distance), limited to the job's entries; a pair a moderator already judged never comes back.

A job (`Rescan`) walks the indexed images in id order, in batches, a few batches per task on the
ingest queue (uploads queued meanwhile go first), and records its cursor after each batch. A
worker holds a lease on the job while it works, so two deliveries never run one job at once; a
crash leaves the lease to expire and the sweep (`resume`, on beat) queues the job again. Redoing a
batch is harmless: `apply_bans` skips pairs already judged, so nothing is queued twice."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from ingestion.models import Image

from . import ban_matching, detection
from .models import BanEntry, Group, Rescan

log = logging.getLogger(__name__)

TASK = "moderation.tasks.rescan_bans"
BATCH = 200  # images a batch: one batched ban search, then one cursor update
STEP_SECONDS = 20.0  # work a task does before it queues the next (indexing is not held up)
LEASE = timedelta(minutes=2)  # longer than one batch; a dead worker's job is free after this
REQUEUE_AFTER = timedelta(minutes=10)  # a job queued this long ago and not started is queued again


def start(entries: list[BanEntry], moderator, origin: str) -> Rescan | None:
    """A job for these new entries (inside the caller's transaction). The caller queues it with
    `queue_on_commit` once the entries' hashes are published: a step sooner would miss them."""
    if not entries:
        return None
    job = new_job(moderator, origin)
    BanEntry.objects.filter(pk__in=[e.pk for e in entries]).update(rescan=job)
    for entry in entries:
        entry.rescan = job
    return job


def new_job(moderator, origin: str) -> Rescan:
    """A job over the images indexed now; the caller sets `BanEntry.rescan` on its new entries."""
    stored = Image.objects.filter(status=Image.Status.INDEXED)
    upto = stored.order_by("-pk").values_list("pk", flat=True).first() or 0
    return Rescan.objects.create(
        origin=origin, upto=upto, total=stored.filter(pk__lte=upto).count(), created_by=moderator
    )


def queue_on_commit(job: Rescan | None) -> None:
    if job is not None:
        transaction.on_commit(lambda: queue(job.pk))


def queue(job_id: int) -> bool:
    """Send the job's next step by name. False if the broker is down: the sweep queues it again."""
    Rescan.objects.filter(pk=job_id).update(queued_at=timezone.now())
    try:
        current_app.send_task(TASK, args=[job_id], queue=settings.INGEST_QUEUE, retry=False)
    except Exception as exc:  # the broker (Redis) is down; the job waits for the sweep
        log.warning("Could not queue rescan %s (the sweep queues it again): %s", job_id, exc)
        return False
    return True


def _claim(job_id: int) -> bool:
    """Take the job's lease; False if it is done or another worker holds it."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    claimed = (
        Rescan.objects.filter(free, pk=job_id)
        .exclude(status=Rescan.Status.DONE)
        .update(lease_until=now + LEASE, status=Rescan.Status.RUNNING, updated_at=now)
    )
    return claimed == 1


def matched_count(job: Rescan) -> int:
    """Images up to the job's start that these entries withheld since it began: counted from the
    groups, not added up, so a batch redone after a crash never counts twice."""
    return (
        Group.objects.filter(
            kind=Group.Kind.BANNED,
            ban__rescan=job,
            created_at__gte=job.created_at,
            members__image_id__lte=job.upto,
        )
        .values("members__image_id")
        .distinct()
        .count()
    )


def _next_ids(job: Rescan) -> list[int]:
    stored = Image.objects.filter(status=Image.Status.INDEXED, pk__gt=job.cursor, pk__lte=job.upto)
    return list(stored.order_by("pk").values_list("pk", flat=True)[:BATCH])


def _finish(job: Rescan) -> None:
    now = timezone.now()
    Rescan.objects.filter(pk=job.pk).update(
        status=Rescan.Status.DONE,
        matched=matched_count(job),
        error="",
        finished_at=now,
        updated_at=now,
        lease_until=None,
    )


def run(job_id: int, seconds: float = STEP_SECONDS) -> bool:
    """Do up to `seconds` of the job's batches. True if more remains (the caller queues it)."""
    if not _claim(job_id):
        return False
    job = Rescan.objects.get(pk=job_id)
    deadline = time.monotonic() + seconds
    try:
        while True:
            entries = BanEntry.objects.filter(rescan=job)
            ids = _next_ids(job)
            if not ids or not entries.exists():  # done, or every entry was unbanned meanwhile
                _finish(job)
                return False
            ban_matching.apply_bans(detection.load(ids), entries=entries)
            job.cursor = ids[-1]
            now = timezone.now()
            Rescan.objects.filter(pk=job.pk).update(
                cursor=job.cursor,
                scanned=F("scanned") + len(ids),
                matched=matched_count(job),
                updated_at=now,
                lease_until=now + LEASE,
            )
            if time.monotonic() >= deadline:
                break
    except Exception as exc:
        Rescan.objects.filter(pk=job.pk).update(
            error=str(exc)[:500], lease_until=None, updated_at=timezone.now()
        )
        raise
    Rescan.objects.filter(pk=job.pk).update(lease_until=None)
    return True


def resume() -> list[int]:
    """The sweep (beat): jobs no worker holds, not queued recently, are queued again (a crash, a
    lost message, a broker that was down). Returns their ids."""
    now = timezone.now()
    stale = (
        Rescan.objects.exclude(status=Rescan.Status.DONE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER))
    )
    ids = list(stale.values_list("pk", flat=True))
    for job_id in ids:
        queue(job_id)
    return ids


def percent(job: Rescan) -> float:
    if job.status == Rescan.Status.DONE or not job.total:
        return 100.0 if job.status == Rescan.Status.DONE else 0.0
    return round(min(100.0, 100.0 * job.scanned / job.total), 1)


def job_json(job: Rescan | None, request=None) -> dict | None:
    if job is None:
        return None
    url = reverse("api-moderation-rescan", args=[job.pk])
    return {
        "id": job.pk,
        "origin": job.origin,
        "status": job.status,
        "total": job.total,
        "scanned": job.scanned,
        "matched": job.matched,
        "percent": percent(job),
        "error": job.error or None,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "status_url": request.build_absolute_uri(url) if request is not None else url,
    }
