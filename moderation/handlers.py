"""Moderation's answers to what the apps below announce (connected in `ModerationConfig.ready()`)."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from core.errors import Forbidden
from ingestion.access import is_moderator
from ingestion.models import Image

from . import audit, bans, withholding
from .ban_matching import withhold_exact_copy
from .detection import check_images, screen_images
from .models import Group, GroupMember, Hold

BANNED_RESTORE = "This image is withheld under a ban: only a moderator can restore it."


def withhold_banned_upload(sender, instance: Image, created: bool, raw: bool = False, **kwargs) -> None:
    """post_save of a new image, inside the upload's transaction: the bytes of banned content are
    hidden before anyone else can see them."""
    if created and not raw:
        withhold_exact_copy(instance)


def screen_indexed_images(sender, ids: list[int], **kwargs) -> None:
    """search's `images_screening`, before publication: ban matches (near copies too) are withheld."""
    screen_images(ids)


def check_indexed_images(sender, ids: list[int], **kwargs) -> None:
    """Runs in the ingest worker right after indexing: duplicate links and groups (the bans were
    applied while screening)."""
    check_images(ids, bans=False)


def sync_ban_collection(sender, report, **kwargs) -> None:
    """search's `index_reconciled`: the ban collection is rebuilt from the database too."""
    result = bans.sync_ban_collection()
    report.bans_restored, report.ban_orphans_deleted = result.restored, result.orphans_deleted


def _audited(user, origin: str) -> bool:
    """A moderation trash, and anything a moderator does with it, goes to the audit log."""
    return origin == Image.TrashOrigin.MODERATION or is_moderator(user)


def after_trash(sender, ids: list[int], user=None, origin: str = "", **kwargs) -> None:
    """A trashed image leaves the open groups of the queue, as a deleted one did; a group left
    with nothing to compare is closed."""
    touched = set(
        GroupMember.objects.filter(image_id__in=ids, group__status=Group.Status.OPEN).values_list(
            "group_id", flat=True
        )
    )
    GroupMember.objects.filter(image_id__in=ids, group_id__in=touched).delete()
    now = timezone.now()
    for group in Group.objects.filter(pk__in=touched).annotate(n=Count("members")):
        group.size, group.updated_at = group.n, now
        if group.n == 0 or (group.kind == Group.Kind.DUPLICATE and group.n < 2):
            group.status, group.resolution, group.resolved_at = Group.Status.RESOLVED, "trashed", now
        group.save(update_fields=["size", "status", "resolution", "resolved_at", "updated_at"])
    if _audited(user, origin):
        for pk in ids:
            audit.record(user, "trash", f"image {pk}", f"moved to the trash ({origin})")


def refuse_banned_restore(sender, image: Image, user=None, **kwargs) -> None:
    """Content under a ban hold comes back only by a moderator's decision."""
    if is_moderator(user):
        return
    if Hold.objects.filter(image_id=image.pk).filter(Q(ban__isnull=False) | Q(cause=Hold.Cause.BAN)).exists():
        raise Forbidden(BANNED_RESTORE)


def after_restore(sender, image_id: int, user=None, origin: str = "", **kwargs) -> None:
    """Holds released while it was in the trash (an unban) are followed now."""
    withholding.sync(Image.objects.filter(pk=image_id))
    if _audited(user, origin):
        audit.record(user, "restore", f"image {image_id}", f"restored from the trash ({origin})")


def after_delete_forever(sender, image_id: int, user=None, origin: str = "", **kwargs) -> None:
    if _audited(user, origin):
        audit.record(user, "delete_forever", f"image {image_id}", f"deleted from the trash ({origin})")
