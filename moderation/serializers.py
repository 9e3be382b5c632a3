"""The moderation API's JSON (the contract in design.md)."""

from __future__ import annotations

from django.urls import reverse

from .models import AuditEntry, BanEntry, Bank, Group, Link


def review_thumbnail_url(image) -> str | None:
    return reverse("moderation-thumbnail", args=[image.pk]) if image.thumbnail else None


def review_url(image) -> str:
    return reverse("moderation-original", args=[image.pk])


def _absolute(request, path: str | None) -> str | None:
    return request.build_absolute_uri(path) if path and request is not None else path


def _review_urls(image, group: Group, request) -> tuple[str | None, str | None]:
    """The usual URLs where the moderator may see the image. Others' private images are served
    to moderators only while their group is open (`moderation.media`); after that, none."""
    if image.page_opens:
        return _absolute(request, image.file_url), _absolute(request, image.thumbnail_url)
    if group.status != Group.Status.OPEN:
        return None, None
    return _absolute(request, review_url(image)), _absolute(request, review_thumbnail_url(image))


def group_json(group: Group, request) -> dict:
    images = []
    for image in group.member_images:
        url, thumbnail_url = _review_urls(image, group, request)
        images.append(
            {
                "id": image.pk,
                "url": url,
                "thumbnail_url": thumbnail_url,
                "page_url": _absolute(request, image.get_absolute_url()) if image.page_opens else None,
                "owner": image.owner.get_username(),
                "title": image.title,
                "width": image.width,
                "height": image.height,
                "bytes": image.size_bytes,
                "format": image.format,
                "created_at": image.created_at.isoformat(),
                "taken_at": image.taken_at.isoformat() if image.taken_at else None,
                "visibility": image.visibility,
                "moderation": image.moderation,
                "keep_suggested": image.pk == group.keep_suggested,
            }
        )
    return {
        "id": group.pk,
        "kind": group.kind,
        "status": group.status,
        "resolution": group.resolution,
        "requested_by_owner": group.requested_by_owner,
        "created_at": group.created_at.isoformat(),
        "size": len(group.member_images),
        "images": images,
        # Why the image with `keep_suggested` is suggested, e.g. "earliest upload" (duplicates).
        "keep_reason": group.keep_reason or None,
        "links": [link_json(link) for link in group.member_links],
        "ban": ban_ref_json(group, request) if group.kind == Group.Kind.BANNED else None,
    }


def link_json(link: Link) -> dict:
    return {
        "a": link.a_id,
        "b": link.b_id,
        "kind": link.kind,
        "pdq_distance": link.pdq_distance,
        "score": link.score,
        "variant": link.variant,
        "state": link.state,
    }


def ban_thumbnail_url(entry: BanEntry, request=None) -> str | None:
    """The entry's own picture (moderators only); None for an imported hash."""
    if not entry.thumbnail:
        return None
    return _absolute(request, reverse("moderation-ban-thumbnail", args=[entry.pk]))


def ban_ref_json(group: Group, request=None) -> dict | None:
    entry = group.ban
    if entry is None:
        return None
    return {
        "id": entry.pk,
        "bank": entry.bank.name,
        "reason": entry.reason,
        "category": entry.category,
        "match": group.ban_kind,
        "pdq_distance": group.ban_distance,
        "score": group.ban_score,
        "variant": group.ban_variant,  # which hashes met, e.g. "mirror~plain"
        "thumbnail_url": ban_thumbnail_url(entry, request),
    }


def ban_json(entry: BanEntry, request=None) -> dict:
    return {
        "id": entry.pk,
        "bank": entry.bank.name,
        "bank_enabled": entry.bank.enabled,
        "category": entry.category,
        "public_reason": entry.get_category_display(),
        "note": entry.reason,
        "reason": entry.reason,
        "image": entry.image_id,
        "sha256": entry.sha256,
        "pdq_hash": entry.pdq_hash,
        "pdq_quality": entry.pdq_quality,
        "created_at": entry.created_at.isoformat(),
        "created_by": entry.created_by.get_username() if entry.created_by else None,
        "confirmed": entry.confirmed,
        "false_positives": entry.false_positives,
        "thumbnail_url": ban_thumbnail_url(entry, request),
    }


def bank_json(bank: Bank) -> dict:
    return {
        "name": bank.name,
        "enabled": bank.enabled,
        "entries": getattr(bank, "entry_count", None),
        "max_distance": bank.match_distance(),  # PDQ bits an upload may differ by and still match
        "max_distance_is_default": bank.max_distance is None,  # following BAN_PDQ_DISTANCE
    }


def audit_json(entry: AuditEntry) -> dict:
    return {
        "at": entry.at.isoformat(),
        "moderator": entry.moderator_name,
        "action": entry.action,
        "target": entry.target,
        "note": entry.note,
    }
