"""The audit log: every moderation action goes through `record`."""

from __future__ import annotations

from .models import AuditEntry


def record(moderator, action: str, target: str, note: str = "") -> AuditEntry:
    """`moderator` None means the system acted on its own (a ban match hid an upload)."""
    user = moderator if moderator is not None and moderator.is_authenticated else None
    return AuditEntry.objects.create(
        moderator=user,
        moderator_name=user.get_username() if user else "system",
        action=action,
        target=target[:200],
        note=note,
    )
