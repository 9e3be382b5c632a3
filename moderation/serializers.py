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


def group_json(group: Group, request) -> dict:
    return {
        "id": group.pk,
        "kind": group.kind,
        "status": group.status,
        "resolution": group.resolution,
        "created_at": group.created_at.isoformat(),
        "size": len(group.member_images),
        "images": [
            {
                "id": image.pk,
                # The usual URLs where the moderator may see the image; others' private images are
                # served to moderators while they are in the queue (`moderation.media`).
                "url": _absolute(request, image.file_url if image.page_opens else review_url(image)),
                "thumbnail_url": _absolute(
                    request, image.thumbnail_url if image.page_opens else review_thumbnail_url(image)
                ),
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
            for image in group.member_images
        ],
        "links": [link_json(link) for link in group.member_links],
        "ban": ban_ref_json(group) if group.kind == Group.Kind.BANNED else None,
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


def ban_ref_json(group: Group) -> dict | None:
    entry = group.ban
    if entry is None:
        return None
    return {
        "id": entry.pk,
        "bank": entry.bank.name,
        "reason": entry.reason,
        "match": group.ban_kind,
        "pdq_distance": group.ban_distance,
        "score": group.ban_score,
    }


def ban_json(entry: BanEntry) -> dict:
    return {
        "id": entry.pk,
        "bank": entry.bank.name,
        "bank_enabled": entry.bank.enabled,
        "reason": entry.reason,
        "image": entry.image_id,
        "sha256": entry.sha256,
        "pdq_hash": entry.pdq_hash,
        "pdq_quality": entry.pdq_quality,
        "created_at": entry.created_at.isoformat(),
        "created_by": entry.created_by.get_username() if entry.created_by else None,
        "confirmed": entry.confirmed,
        "false_positives": entry.false_positives,
    }


def bank_json(bank: Bank) -> dict:
    return {"name": bank.name, "enabled": bank.enabled, "entries": getattr(bank, "entry_count", None)}


def audit_json(entry: AuditEntry) -> dict:
    return {
        "at": entry.at.isoformat(),
        "moderator": entry.moderator_name,
        "action": entry.action,
        "target": entry.target,
        "note": entry.note,
    }
