"""Entry points shared by the API and the pages: look-ups with the right errors, and bulk actions."""

from __future__ import annotations

from django.db.models import Count
from django.http import Http404
from django.utils import timezone

from core.forms import MAX_ID
from ingestion.access import visible_images
from ingestion.models import Image

from . import review
from .models import BanEntry, Bank, Group, GroupMember, Rescan, ReviewerSettings


def get_group(pk: int) -> Group:
    group = Group.objects.select_related("ban__bank").filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if group is None:
        raise Http404("No such group.")
    return group


def get_entry(pk: int) -> BanEntry:
    entry = BanEntry.objects.select_related("bank").filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if entry is None:
        raise Http404("No such ban entry.")
    return entry


def get_rescan(pk: int) -> Rescan:
    job = Rescan.objects.filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if job is None:
        raise Http404("No such rescan.")
    return job


def get_bank(name: str) -> Bank:
    bank = Bank.objects.filter(name=name).first()
    if bank is None:
        raise Http404("No such bank.")
    return bank


def in_open_group(pk: int) -> bool:
    return GroupMember.objects.filter(image_id=pk, group__status=Group.Status.OPEN).exists()


def get_bannable_image(moderator, pk: int) -> Image:
    """An image the moderator may see: public ones (hidden too), their own, and others' private
    ones only while they are in an open group of the queue. Anything else is the same 404 as a
    missing id, so ids cannot be probed."""
    image = visible_images(moderator).filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if image is None and 0 < pk <= MAX_ID and in_open_group(pk):
        image = Image.objects.filter(pk=pk).first()
    if image is None:
        raise Http404("No such image.")
    return image


def bulk(moderator, group_ids: list[int], action: str, note: str) -> dict[str, list[int]]:
    """Each open group: keep its suggested image and delete or hide the rest (a ban match: confirm
    it), or dismiss it. Already resolved or unknown groups are skipped."""
    done, skipped = [], []
    groups = {g.pk: g for g in Group.objects.filter(pk__in=group_ids, status=Group.Status.OPEN)}
    for pk in group_ids:
        group = groups.get(pk)
        if group is None:
            skipped.append(pk)
            continue
        if action == "dismiss":
            review.dismiss(moderator, group, note)
        else:
            keep = []
            if group.kind == Group.Kind.DUPLICATE:
                keep = [review.suggested_keep(list(Image.objects.filter(moderation_groups__group=group)))]
            review.resolve(moderator, group, keep, action, note)
        done.append(pk)
    return {"resolved": done, "skipped": skipped}


def banks_with_counts():
    return Bank.objects.annotate(entry_count=Count("entries")).order_by("name")


def blurs_thumbnails(moderator) -> bool:
    """Whether the queue blurs this moderator's thumbnails (on until they turn it off)."""
    found = ReviewerSettings.objects.filter(user_id=moderator.pk).values_list("blur_thumbnails", flat=True)
    return next(iter(found), True)


def set_blur_thumbnails(moderator, blur: bool) -> None:
    ReviewerSettings.objects.update_or_create(
        user_id=moderator.pk, defaults={"blur_thumbnails": blur, "updated_at": timezone.now()}
    )
