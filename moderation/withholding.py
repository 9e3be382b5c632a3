"""Withholding images: an image is hidden exactly while it has a `Hold` (a ban entry it matched,
or a moderator's decision). Holds are what make an unban exact: lifting a ban releases the holds
of that ban only, and an image comes back unless another ban or a decision still holds it.

The owner is told: `Image.moderation_reason` carries the public reason of its newest hold (a ban
category's words, never the moderator's internal note), and the owner may ask for a review once
per hold, which puts the image in the moderation queue (audited)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from core.errors import BadInput, Forbidden
from ingestion import states
from ingestion.models import Image
from search import index

from . import audit
from .models import BanEntry, Group, GroupMember, Hold

DUPLICATE_REASON = "Hidden by a moderator as a duplicate of another image."
REVIEW_DONE = "A moderator has already reviewed this image; it stays withheld."


def banned_reason(entry: BanEntry) -> str:
    """What the owner of the banned image itself reads."""
    return f"Withheld by a moderator. Reason: {entry.get_category_display()}."


def match_reason(entry: BanEntry) -> str:
    """What the owner of an upload matching a ban reads."""
    return f"Withheld: it matches content a moderator banned. Reason: {entry.get_category_display()}."


def hold(
    image: Image,
    cause: str,
    public_reason: str,
    *,
    ban: BanEntry | None = None,
    group: Group | None = None,
) -> Hold:
    """Withhold `image` for one more reason (one hold per ban entry and image)."""
    if ban is not None:
        found, _ = Hold.objects.get_or_create(
            image=image, ban=ban, defaults={"cause": cause, "public_reason": public_reason, "group": group}
        )
        if group is not None and found.group_id is None:
            Hold.objects.filter(pk=found.pk).update(group=group)
    else:
        found = Hold.objects.create(image=image, cause=cause, public_reason=public_reason, group=group)
    sync([image])
    return found


def release(holds) -> list[int]:
    """Lift these holds (a queryset); the images they alone withheld are shown again. Returns the
    ids of the images touched."""
    ids = sorted(set(holds.values_list("image_id", flat=True)))
    holds.delete()
    sync(Image.objects.filter(pk__in=ids))
    return ids


def sync(images: Iterable[Image]) -> None:
    """Make each image's moderation state follow its holds, in the database and in Milvus's
    public flag."""
    images = list(images)
    reasons: dict[int, str] = {}
    for image_id, reason in (
        Hold.objects.filter(image__in=[i.pk for i in images])
        .order_by("image_id", "created_at", "id")
        .values_list("image_id", "public_reason")
    ):
        reasons[image_id] = reason  # the newest hold's reason wins
    changed = []
    for image in images:
        hidden = image.pk in reasons
        state = Image.Moderation.HIDDEN if hidden else Image.Moderation.VISIBLE
        reason = reasons.get(image.pk, "")
        if (image.moderation, image.moderation_reason) == (state, reason):
            continue
        states.set_withheld(image.pk, hidden, reason)
        image.moderation, image.moderation_reason = state, reason
        if image.status == Image.Status.INDEXED:
            changed.append(image)
    if changed:
        index.publish(changed)


def can_request_review(image: Image, user) -> bool:
    """The owner of a withheld image, once per hold that nobody has reviewed at their request."""
    if not (user and user.is_authenticated and user.pk == image.owner_id):
        return False
    if image.moderation != Image.Moderation.HIDDEN:
        return False
    return image.holds.filter(review_requested_at__isnull=True).exists()


def review_requested(image: Image) -> bool:
    return image.holds.filter(review_requested_at__isnull=False, group__status=Group.Status.OPEN).exists()


def request_review(user, image: Image, note: str = "") -> Group:
    """The owner disputes a withholding: the image joins the moderation queue as a `banned` group
    marked as requested by the owner (one already open for it is reused). Dismissing that group
    releases the holds it reviews; confirming keeps the image withheld, for good."""
    if not (user and user.is_authenticated and user.pk == image.owner_id):
        raise Forbidden("Only the owner can ask for a review of this image.")
    if image.moderation != Image.Moderation.HIDDEN:
        raise BadInput("This image is not withheld.")
    with transaction.atomic():
        holds = list(Hold.objects.select_for_update().filter(image=image, review_requested_at__isnull=True))
        if not holds:
            raise BadInput(REVIEW_DONE)
        group = (
            Group.objects.filter(kind=Group.Kind.BANNED, status=Group.Status.OPEN, members__image=image)
            .order_by("-created_at")
            .first()
        )
        if group is None:
            ban = next((h.ban for h in holds if h.ban_id), None)
            group = Group.objects.create(kind=Group.Kind.BANNED, ban=ban, size=1, requested_by_owner=True)
            GroupMember.objects.create(group=group, image=image)
        elif not group.requested_by_owner:
            group.requested_by_owner = True
            group.save(update_fields=["requested_by_owner"])
        now = timezone.now()
        Hold.objects.filter(pk__in=[h.pk for h in holds]).update(review_requested_at=now)
        Hold.objects.filter(pk__in=[h.pk for h in holds], group__isnull=True).update(group=group)
        audit.record(
            user, "request_review", f"image {image.pk}", note[:2000] or "the owner asked for a review"
        )
    return group
