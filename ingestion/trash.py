"""The trash, as Immich's: a deleted image (by its owner, or by a moderator's resolve) leaves every
listing, search, index and media door at once (`Image.objects` never returns it), but keeps its
row, files, title, tags and visibility, restorable for `TRASH_DAYS`; then the purge deletes it for
real. Who may act on a trashed image:

- its owner: see it, restore it (unless moderation refuses: content under a ban hold), delete it
  forever, empty the trash;
- moderators: the images a moderation resolve trashed: list them (others' private ones without
  title or picture), restore them, delete them forever;
- anyone else: the same 404 as a missing id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from core.errors import BadInput, Forbidden, UserFacingError
from core.forms import MAX_ID

from .access import is_moderator
from .models import Image
from .signals import image_deleted_forever, image_restored, image_restoring, image_trashed

# Rows deleted per statement by the purge and "empty trash": bounds the memory of one step.
PURGE_CHUNK = 200


def purge_at(image: Image) -> datetime | None:
    if image.trashed_at is None:
        return None
    return image.trashed_at + timedelta(days=settings.TRASH_DAYS)


def move_to_trash(images: Iterable[Image], by, origin: str = Image.TrashOrigin.DELETE) -> list[int]:
    """Trash these images (those already trashed are left as they are); returns the ids trashed.
    Search unpublishes them and moderation takes them out of open groups once this commits."""
    ids = [i.pk for i in images if i.pk is not None]
    now = timezone.now()
    who = by if by is not None and by.is_authenticated else None
    with transaction.atomic():
        live = Image.objects.filter(pk__in=ids)
        trashed = sorted(live.values_list("pk", flat=True))
        live.update(trashed_at=now, trashed_by=who, trash_origin=origin, updated_at=now)
        if trashed:
            transaction.on_commit(
                lambda: image_trashed.send(sender=Image, ids=trashed, user=who, origin=origin)
            )
    for image in images:
        if image.pk in trashed:
            image.trashed_at, image.trashed_by, image.trash_origin = now, who, origin
    return trashed


def _may_act(user) -> Q:
    """The trashed images `user` may act on (see the module's docstring)."""
    if user is None or not user.is_authenticated:
        return Q(pk__in=[])
    mine = Q(owner_id=user.pk)
    return mine | Q(trash_origin=Image.TrashOrigin.MODERATION) if is_moderator(user) else mine


SCOPES = ("mine", "moderation")


def parse_scope(value: str | None, user) -> bool:
    """`scope` of the trash's listings (page and API alike): whether it is moderation's trash."""
    scope = value or "mine"
    if scope not in SCOPES:
        raise BadInput(f"scope must be one of {', '.join(SCOPES)}.")
    if scope == "moderation" and not is_moderator(user):
        raise Forbidden("Only moderators can list what moderation moved to the trash.")
    return scope == "moderation"


def trash_of(user, *, moderation: bool = False):
    """The viewer's own trash, newest first; with `moderation` (moderators only) what moderation
    resolves trashed, whoever owns it."""
    scope = Q(trash_origin=Image.TrashOrigin.MODERATION) if moderation else Q(owner_id=user.pk)
    return (
        Image.all_objects.trashed()
        .filter(scope & _may_act(user))
        .select_related("owner")
        .prefetch_related("tags")
        .order_by("-trashed_at", "-id")
    )


def get_trashed(user, pk: int) -> Image:
    """A trashed image `user` may act on, or 404 (whether the id exists is not revealed)."""
    found = (
        Image.all_objects.trashed().filter(_may_act(user), pk=pk).select_related("owner").first()
        if 0 < pk <= MAX_ID
        else None
    )
    if found is None:
        raise Http404("No such image in the trash.")
    return found


def shows_content(image: Image, user) -> bool:
    """Title, tags and picture: for the owner, and for public images (private means private, to
    moderators too, as on every other door)."""
    return bool(user and user.is_authenticated and user.pk == image.owner_id) or image.is_public


def restore_refusal(image: Image, user) -> str:
    """Why `user` may not restore `image` ("" when they may): moderation answers for its holds."""
    try:
        image_restoring.send(sender=Image, image=image, user=user)
    except UserFacingError as exc:
        return exc.public_message
    return ""


def restore(image: Image, user) -> Image:
    """Back from the trash with its title, tags and visibility; search republishes it (or indexes
    it, if it was trashed before it was indexed). Raises what a receiver of `image_restoring` does."""
    image_restoring.send(sender=Image, image=image, user=user)
    origin = image.trash_origin
    with transaction.atomic():
        restored = Image.all_objects.filter(pk=image.pk, trashed_at__isnull=False).update(
            trashed_at=None, trashed_by=None, trash_origin="", updated_at=timezone.now()
        )
        if restored:
            pk, by = image.pk, user
            transaction.on_commit(
                lambda: image_restored.send(sender=Image, image_id=pk, user=by, origin=origin)
            )
    image.trashed_at, image.trashed_by, image.trash_origin = None, None, ""
    return image


def delete_forever(image: Image, user) -> None:
    """The row and, unless another row shares them, the files (ingestion.signals)."""
    pk, origin = image.pk, image.trash_origin
    with transaction.atomic():
        image.delete()
        transaction.on_commit(
            lambda: image_deleted_forever.send(sender=Image, image_id=pk, user=user, origin=origin)
        )


def _delete_in_chunks(queryset) -> int:
    deleted = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:PURGE_CHUNK])
        if not ids:
            return deleted
        deleted += Image.all_objects.filter(pk__in=ids).delete()[1].get(Image._meta.label, 0)


def empty(user) -> int:
    """Delete the viewer's whole trash for good; returns how many images."""
    return _delete_in_chunks(Image.all_objects.trashed().filter(owner_id=user.pk))


def purge_expired(now: datetime | None = None) -> int:
    """Delete for good what has been in the trash for `TRASH_DAYS` (beat, hourly; `purge_trash`)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TRASH_DAYS)
    return _delete_in_chunks(Image.all_objects.filter(trashed_at__lte=cutoff))
