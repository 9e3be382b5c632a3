"""What moderators do with a group: keep some images and delete or hide the rest (merging the
tags of the same owner's copies into what is kept), or dismiss it ("not a duplicate" / a ban's
false positive). Every action is audited."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, Prefetch, QuerySet
from django.utils import timezone

from core.errors import BadInput
from ingestion import trash
from ingestion.models import Image

from . import audit, withholding
from .models import BanEntry, Group, GroupMember, Hold, Link

DELETE, HIDE = "delete", "hide"
PAST = {DELETE: "deleted", HIDE: "hid"}


def keep_order(image: Image) -> tuple:
    """The earliest upload of the content is the original: a later copy padded with a border, or
    re-encoded larger, has more pixels or bytes and is still the copy. Upload order breaks ties."""
    return (image.created_at, image.pk)


def suggested_keep(images: list[Image]) -> int | None:
    return min(images, key=keep_order).pk if images else None


def keep_reason(images: list[Image], keep: int | None) -> str:
    """Why `keep` is suggested, in the queue's words ("earliest upload", and what else it has)."""
    chosen = next((i for i in images if i.pk == keep), None)
    if chosen is None:
        return ""
    reasons = ["earliest upload"]
    if len(images) > 1:
        if all(chosen.width * chosen.height >= i.width * i.height for i in images):
            reasons.append("most pixels")
        if chosen.taken_at and all(i.taken_at is None or chosen.taken_at <= i.taken_at for i in images):
            reasons.append("earliest capture date")
    return ", ".join(reasons)


def groups_queryset(kind: str | None, status: str | None, order: str) -> QuerySet[Group]:
    groups = Group.objects.all()
    if kind:
        groups = groups.filter(kind=kind)
    if status:
        groups = groups.filter(status=status)
    ordering = ["-size", "-created_at", "-id"] if order == "largest" else ["-created_at", "-id"]
    return groups.select_related("ban__bank").order_by(*ordering)


def with_members(groups: list[Group], moderator) -> list[Group]:
    """Attach members (with owner) and their links to one page of groups, in a few queries. Each
    image says whether `moderator` may open its page (others' private images are reviewed through
    `moderation.media` only)."""
    members = GroupMember.objects.filter(group__in=groups).select_related("image__owner").order_by("image_id")
    by_group: dict[int, list[Image]] = {}
    for m in members:
        m.image.page_opens = m.image.visible_to(moderator, moderator=True)
        by_group.setdefault(m.group_id, []).append(m.image)
    all_ids = {i.pk for images in by_group.values() for i in images}
    links = list(Link.objects.filter(a_id__in=all_ids, b_id__in=all_ids).order_by("a_id", "b_id"))
    for group in groups:
        group.member_images = by_group.get(group.pk, [])
        ids = {i.pk for i in group.member_images}
        group.member_links = [link for link in links if link.a_id in ids and link.b_id in ids]
        group.keep_suggested = (
            suggested_keep(group.member_images) if group.kind == Group.Kind.DUPLICATE else None
        )
        group.keep_reason = keep_reason(group.member_images, group.keep_suggested)
    return groups


@dataclass
class Outcome:
    kept: list[int]
    removed: list[int]


def _members(group: Group) -> list[Image]:
    return list(Image.objects.filter(moderation_groups__group=group).prefetch_related(Prefetch("tags")))


def _strictness(image: Image) -> int:
    return 0 if image.visibility == Image.Visibility.PUBLIC else 1


def _merge_into(kept: list[Image], others: list[Image]) -> None:
    """The tags of the removed copies live on in what is kept, within one owner only, and only
    into an image at least as private as the copy (a private copy's tags never become public).
    Titles are never merged: a title is the owner's wording for that one upload."""
    for image in kept:
        tags = {
            tag
            for other in others
            if other.owner_id == image.owner_id and _strictness(image) >= _strictness(other)
            for tag in other.tags.all()
        }
        if tags:
            image.tags.add(*tags)


def resolve(moderator, group: Group, keep: list[int], action: str, note: str = "") -> Outcome:
    if group.status != Group.Status.OPEN:
        raise BadInput("This group is already resolved.")
    if action not in (DELETE, HIDE):
        raise BadInput("action must be 'delete' or 'hide'.")
    members = _members(group)
    ids = {i.pk for i in members}
    if not set(keep) <= ids:
        raise BadInput(f"keep: only images of this group can be kept ({sorted(ids)}).")
    if group.kind == Group.Kind.DUPLICATE and not keep:
        raise BadInput("keep: choose at least one image to keep (use dismiss if these are not duplicates).")
    kept = [i for i in members if i.pk in keep]
    others = [i for i in members if i.pk not in keep]
    removed = sorted(i.pk for i in others)  # before a delete empties their pk
    with transaction.atomic():
        if group.kind == Group.Kind.DUPLICATE:
            _merge_into(kept, others)
            Link.objects.filter(a_id__in=ids, b_id__in=ids).update(state=Link.State.RESOLVED)
        if group.kind == Group.Kind.BANNED:
            # Kept from a ban match: the holds this group reviews are lifted for those images.
            withholding.release(Hold.objects.filter(group=group, image__in=kept))
        for image in others:
            if action == DELETE:  # to the trash: restorable for TRASH_DAYS (ingestion.trash)
                trash.move_to_trash([image], moderator, Image.TrashOrigin.MODERATION)
            elif group.kind == Group.Kind.DUPLICATE:
                withholding.hold(image, Hold.Cause.DECISION, _hide_reason(image, kept), group=group)
            elif not image.holds.exists():
                withholding.hold(image, Hold.Cause.DECISION, _confirm_reason(group), group=group)
        if group.kind == Group.Kind.BANNED and group.ban_id:
            BanEntry.objects.filter(pk=group.ban_id).update(confirmed=F("confirmed") + 1)
        _close(group, moderator, "confirmed" if group.kind == Group.Kind.BANNED else "kept")
        audit.record(
            moderator,
            f"resolve_{action}",
            f"group {group.pk}",
            _join(note, f"kept {sorted(keep)}; {PAST[action]} {removed}"),
        )
    return Outcome(sorted(keep), removed)


def _hide_reason(image: Image, kept: list[Image]) -> str:
    """Names the kept copies only when they are the owner's own (others' ids are not theirs)."""
    own = [str(k.pk) for k in kept if k.owner_id == image.owner_id]
    if own:
        return f"Hidden by a moderator as a duplicate of your image {', '.join(own)}."
    return withholding.DUPLICATE_REASON


def _confirm_reason(group: Group) -> str:
    return withholding.match_reason(group.ban) if group.ban else "Withheld by a moderator."


def _join(note: str, detail: str) -> str:
    return f"{note} ({detail})" if note else detail


def _close(group: Group, moderator, resolution: str) -> None:
    group.status, group.resolution = Group.Status.RESOLVED, resolution
    group.resolved_at = timezone.now()
    group.resolved_by = moderator
    group.size = group.members.count()
    group.save(update_fields=["status", "resolution", "resolved_at", "resolved_by", "size", "updated_at"])


def dismiss(moderator, group: Group, note: str = "") -> None:
    """Not a duplicate: its links never form a group again, even after a rescan. For a ban match:
    a false positive, so the upload is shown again and the entry's feedback counts it."""
    if group.status != Group.Status.OPEN:
        raise BadInput("This group is already resolved.")
    members = _members(group)
    ids = {i.pk for i in members}
    with transaction.atomic():
        if group.kind == Group.Kind.DUPLICATE:
            Link.objects.filter(a_id__in=ids, b_id__in=ids).update(state=Link.State.DISMISSED)
            _close(group, moderator, "dismissed")
        else:
            if group.ban_id:
                BanEntry.objects.filter(pk=group.ban_id).update(false_positives=F("false_positives") + 1)
            _close(group, moderator, "false_positive")
            # What this group reviewed is released: the ban match (or, for an owner's request, the
            # holds they disputed); another ban or decision may still withhold the image.
            reviewed = Hold.objects.filter(group=group)
            if group.ban_id:
                reviewed = reviewed | Hold.objects.filter(ban_id=group.ban_id, image_id__in=ids)
            withholding.release(reviewed)
        audit.record(
            moderator,
            "dismiss" if group.kind == Group.Kind.DUPLICATE else "false_positive",
            f"group {group.pk}",
            _join(note, f"images {sorted(ids)}"),
        )


def open_counts() -> dict[str, int]:
    rows = Group.objects.filter(status=Group.Status.OPEN).values("kind").annotate(n=Count("id"))
    return {row["kind"]: row["n"] for row in rows}
