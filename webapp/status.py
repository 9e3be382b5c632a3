"""The indexing status page and its JSON (the header indicator polls it): what waits, what is being
indexed right now (the workers' marks in Redis, search/pipeline/worker_status.py), how fast images are
being indexed, what failed and why, with a retry that queues failed images again; the active
model and a model switch's progress (staff), started, cancelled and finished by superusers.

It lives in webapp because it reads both ingestion (the rows) and search (workers, the queue)."""

from __future__ import annotations

from datetime import timedelta

import redis
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, Q
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.errors import BadInput
from core.forms import IdListField, InputForm
from ingestion import states
from ingestion.models import Image
from search.pipeline import switching
from search.pipeline.queueing import enqueue_indexing
from search.pipeline.worker_status import (
    SummaryState,
    WorkerState,
    encoder_summary,
    read_all,
    read_indexing,
    redis_client,
)

RATE_WINDOW = timedelta(minutes=10)
RATE_MIN_SPAN = timedelta(minutes=1)
FAILED_SHOWN = 100
OCR_OFF = "off"  # ocr_state when OCR_ENABLED is false


def _scope(user):
    """Staff see the whole queue; everyone else their own images only."""
    images = Image.objects.all()
    return images if user.is_staff else images.filter(owner=user)


def summary(user) -> dict:
    return _summary(user)[0]


def _summary(user) -> tuple[dict, set[int]]:
    """The counts, and the ids of the viewer's images being indexed now."""
    now = timezone.now()
    since = now - RATE_WINDOW
    counts = _scope(user).aggregate(
        pending=Count("pk", filter=Q(status=Image.Status.PENDING)),
        failed=Count("pk", filter=Q(status=Image.Status.FAILED)),
        indexed=Count("pk", filter=Q(status=Image.Status.INDEXED)),
        recent=Count("pk", filter=Q(status=Image.Status.INDEXED, indexed_at__gte=since)),
        first_recent=Min("indexed_at", filter=Q(status=Image.Status.INDEXED, indexed_at__gte=since)),
    )
    indexing_ids: set[int] = set()
    try:
        client = redis_client()  # one connection, two reads; down: one short timeout, not two
        states = read_all(client)
        state, detail = encoder_summary(states)
        ingest_state, ingest_detail = encoder_summary(states, settings.INGEST_QUEUE)
        ocr_state, ocr_detail = _ocr_summary(states)
        indexing_ids = read_indexing(client)
    except redis.RedisError:
        state, detail = SummaryState.ERROR, "the task queue (Redis) is unreachable."
        ingest_state, ingest_detail = state, detail
        ocr_state, ocr_detail = _ocr_summary(None)
    # Marks name whole batches, maybe of other people's images: count this viewer's, still pending.
    indexing = set()
    if indexing_ids:
        pending = _scope(user).filter(pk__in=indexing_ids, status=Image.Status.PENDING)
        indexing = set(pending.values_list("pk", flat=True))
    return {
        "pending": counts["pending"],  # waiting and being indexed
        "indexing": len(indexing),
        "waiting": counts["pending"] - len(indexing),
        "failed": counts["failed"],
        "indexed": counts["indexed"],
        "per_minute": _per_minute(counts["recent"], counts["first_recent"], now),
        "model_state": str(state),
        "model_detail": detail,
        "ingest_state": str(ingest_state),
        "ingest_detail": ingest_detail,
        "ocr_state": str(ocr_state),  # the OCR worker's engine, as the encoder's: ok | loading | ... | off
        "ocr_detail": ocr_detail,
        "scope": "all" if user.is_staff else "mine",
        "model": switching.active_model_id(),
        **(_switch_fields() if user.is_staff else {}),
    }, indexing


def _ocr_summary(states: list[WorkerState] | None) -> tuple[str, str]:
    """The OCR worker's engine, summed up as the encoder's is; "off" when OCR_ENABLED is false
    (no worker needs to read words). `None`: Redis is unreachable."""
    if not settings.OCR_ENABLED:
        return OCR_OFF, "OCR is off (OCR_ENABLED)"
    if states is None:
        return SummaryState.ERROR, "the task queue (Redis) is unreachable."
    return encoder_summary(states, settings.OCR_QUEUE)


def _switch_fields() -> dict:
    """A model switch's progress, for staff: site-wide counts (flat keys: status.js fills the
    page's `data-field`s from them)."""
    progress = switching.progress()
    return {
        "model_switch": progress.as_dict(),
        "switch_done": progress.done,
        "switch_total": progress.total,
        "switch_percent": progress.percent,
    }


def _per_minute(recent: int, first, now) -> float:
    """The rate over the part of the last RATE_WINDOW in which indexing happened (at least a
    minute): 40 images indexed in the last 2 minutes are 20 a minute, not 4 averaged over 10."""
    if not recent:
        return 0.0
    span = min(max(now - first, RATE_MIN_SPAN), RATE_WINDOW)
    return round(recent / (span.total_seconds() / 60), 1)


@login_required
def status_page(request):
    failed = (
        _scope(request.user)
        .filter(status=Image.Status.FAILED)
        .select_related("owner")
        .order_by("-updated_at")[:FAILED_SHOWN]
    )
    counts, indexing = _summary(request.user)
    # What is being indexed first, then what waits longest.
    waiting = list(_scope(request.user).filter(pk__in=indexing).order_by("created_at")[:12])
    waiting += (
        _scope(request.user)
        .filter(status=Image.Status.PENDING)
        .exclude(pk__in=indexing)
        .order_by("created_at")[: 12 - len(waiting)]
    )
    for image in waiting:
        image.being_indexed = image.pk in indexing
    context = {
        "summary": counts,
        "failed": failed,
        "waiting": waiting,
        "switch": counts.get("model_switch"),
        "can_switch": request.user.is_superuser,
    }
    return render(request, "webapp/status.html", context)


@login_required
def status_json(request):
    return JsonResponse(summary(request.user))


class RetryForm(InputForm):
    ids = IdListField(max_ids=1000)


@login_required
@require_POST
def retry(request):
    """Failed images (the caller's own; staff: any) go back to pending and into the queue."""
    try:
        ids = RetryForm(request.POST).cleaned()["ids"]
    except BadInput as exc:
        messages.error(request, str(exc))
        return redirect("status")
    failed = _scope(request.user).filter(status=Image.Status.FAILED)
    if ids:
        failed = failed.filter(pk__in=ids)
    chosen = list(failed.values_list("pk", flat=True)[:1000])
    states.retry_failed(chosen)
    if chosen and not enqueue_indexing(chosen):
        messages.warning(request, _("The task queue is unreachable; they stay pending and are queued later."))
    n = len(chosen)
    messages.success(
        request,
        ngettext("Queued %(n)d image for indexing again.", "Queued %(n)d images for indexing again.", n)
        % {"n": n},
    )
    return redirect("status")


class ModelSwitchForm(InputForm):
    model = forms.CharField(max_length=switching.MAX_MODEL_ID)


def _superuser_post(view):
    """Superusers only (others: 403), POST only, signed in; CSRF as every form."""

    @login_required
    @require_POST
    def guarded(request):
        if not request.user.is_superuser:
            raise PermissionDenied(_("Only a superuser can switch the model."))
        return view(request)

    guarded.__name__ = view.__name__
    return guarded


@_superuser_post
def model_switch_start(request):
    """Build another model's collection in the background; the switch follows by itself."""
    try:
        model_id = ModelSwitchForm(request.POST).cleaned()["model"]
        progress = switching.start(model_id)
    except BadInput as exc:
        messages.error(request, str(exc))
        return redirect("status")
    messages.success(
        request,
        _("Building %(target)s in the background; searches keep %(active)s until it is done.")
        % {"target": progress.target, "active": progress.active},
    )
    return redirect("status")


@_superuser_post
def model_switch_cancel(request):
    try:
        messages.success(request, _("Cancelled the switch to %(model)s.") % {"model": switching.cancel()})
    except BadInput as exc:
        messages.error(request, str(exc))
    return redirect("status")


@_superuser_post
def model_switch_drop(request):
    try:
        messages.success(
            request,
            _("Dropped %(model)s: its vectors and collection are gone.")
            % {"model": switching.drop_previous()},
        )
    except BadInput as exc:
        messages.error(request, str(exc))
    return redirect("status")
