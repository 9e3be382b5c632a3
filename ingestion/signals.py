"""What ingestion announces to the apps above it, which connect their handlers in their
`AppConfig.ready()` (ingestion never imports them). Every signal is sent after the database
transaction commits, so a receiver always finds the rows it is told about.

- `images_created(ids)`: new pending images whose originals are stored (the search app queues
  their indexing).
- `image_visibility_changed(image_id)`: the search app updates its index's copy.
- `image_trashed(ids, user, origin)`: images went to the trash (search unpublishes them;
  moderation takes them out of open groups and audits a moderator's).
- `image_restoring(image, user)`: sent synchronously before a restore; a receiver may refuse it
  by raising a `core.errors.UserFacingError` (moderation: content under a ban hold).
- `image_restored(image_id, user)`: back from the trash (search republishes or re-queues it;
  moderation re-syncs its holds and audits).
- `image_deleted_forever(image_id, user, origin)`: someone emptied it out of the trash (moderation
  audits a moderator's); the periodic purge sends nothing.
- Deletion (a purge, or "delete forever") is Django's own `post_delete` of `Image`.

Ingestion's own receivers (file clean-up, visibility changes) are in `handlers.py`.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from .models import Image

images_created = Signal()
image_visibility_changed = Signal()
image_trashed = Signal()
image_restoring = Signal()
image_restored = Signal()
image_deleted_forever = Signal()


def announce_created(ids: list[int]) -> None:
    """Send `images_created` once the current transaction (if any) commits."""
    ids = list(ids)
    if ids:
        transaction.on_commit(lambda: images_created.send(sender=Image, ids=ids))
