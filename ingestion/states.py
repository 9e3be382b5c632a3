"""The only writers of the state ingestion's doors filter on: an image's indexing state (`status`,
`failure_reason`, `attempts`, `indexed_at`) and its moderation state (`moderation`,
`moderation_reason`). Every listing rule (ingestion/models.py) filters on these columns, so they stay
on Image; search (which indexes) and moderation (which withholds) decide them and write them through
these functions, never with an `update()` of their own (tests/ingestion/test_states.py checks it).

Each function is one UPDATE: its WHERE clause is the condition its caller relies on (only pending
rows get a pending reason, only failed rows are retried), and it returns how many rows it changed.
`update()` skips `auto_now`, so `updated_at` moves only where a function says so: it is the age
`reconcile` measures pending rows by."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import F
from django.utils import timezone

from .models import Image

REASON_LIMIT = 1000  # characters of a failure or pending reason kept


def mark_indexed(ids: Iterable[int], at: datetime | None = None, *, touch: bool = True) -> int:
    """The images are searchable since `at` (default: now); any earlier failure reason goes.
    `touch=False` leaves `updated_at` alone (reconcile restoring rows whose index write was lost)."""
    at = at or timezone.now()
    changes: dict = {"status": Image.Status.INDEXED, "failure_reason": "", "indexed_at": at}
    if touch:
        changes["updated_at"] = at
    return Image.objects.filter(pk__in=list(ids)).update(**changes)


def mark_failed(image_id: int, reason: str) -> int:
    """The image cannot be indexed (an unreadable original, say); `reason` is shown to its owner."""
    return Image.objects.filter(pk=image_id).update(
        status=Image.Status.FAILED, failure_reason=reason[:REASON_LIMIT], updated_at=timezone.now()
    )


def note_attempts(ids: Iterable[int]) -> int:
    """The images have been through indexing once more (their stored vectors and hashes are new):
    one statement for a whole batch."""
    return Image.objects.filter(pk__in=list(ids)).update(attempts=F("attempts") + 1)


def note_pending_reason(ids: Iterable[int], reason: str, *, touch: bool = True) -> int:
    """Say why the pending ones among `ids` still wait, without failing them. `touch=False` keeps
    `updated_at`, so reconcile's age of the row is unchanged (a failed enqueue)."""
    changes: dict = {"failure_reason": reason[:REASON_LIMIT]}
    if touch:
        changes["updated_at"] = timezone.now()
    return Image.objects.filter(pk__in=list(ids), status=Image.Status.PENDING).update(**changes)


def clear_pending_reason(ids: Iterable[int], reason: str) -> int:
    """Drop `reason` from the images among `ids` that still show exactly it (another reason written
    meanwhile stays)."""
    return Image.objects.filter(pk__in=list(ids), failure_reason=reason).update(failure_reason="")


def retry_failed(ids: Iterable[int]) -> int:
    """The failed ones among `ids` go back to pending with a clean slate (no reason, no attempts)."""
    return Image.objects.filter(pk__in=list(ids), status=Image.Status.FAILED).update(
        status=Image.Status.PENDING, failure_reason="", attempts=0, updated_at=timezone.now()
    )


def set_withheld(image_id: int, hidden: bool, reason: str = "") -> int:
    """Moderation's decision: the image is withheld (`hidden`, with the public `reason`) or visible."""
    state = Image.Moderation.HIDDEN if hidden else Image.Moderation.VISIBLE
    return Image.objects.filter(pk=image_id).update(
        moderation=state, moderation_reason=reason, updated_at=timezone.now()
    )
