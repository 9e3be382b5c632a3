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
"""

from __future__ import annotations

import copy

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from .metadata import delete_public_copy
from .models import Image
from .storage import delete_if_unreferenced, thumbnail_name

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


@receiver(post_save, sender=Image)
def _announce_visibility_change(sender, instance: Image, created: bool, **kwargs) -> None:
    # Covers every way a row is saved (pages, API, the Django admin).
    if created:
        # Only rows loaded from the database remembered their visibility (Image.from_db), so a
        # change saved later on the very instance that created the row went unannounced.
        instance.remember_visibility()
        return
    if not instance.visibility_changed():
        return
    instance.remember_visibility()
    image_id = instance.pk
    transaction.on_commit(lambda: image_visibility_changed.send(sender=Image, image_id=image_id))


@receiver(post_delete, sender=Image)
def _delete_unreferenced_files(sender, instance: Image, **kwargs) -> None:
    # A copy: delete() clears instance.pk, before the callback runs when an outer transaction is open.
    deleted = copy.copy(instance)

    def clean_up() -> None:
        delete_if_unreferenced(deleted.original.name)
        # Also by its content hash: a row loaded before indexing finished does not name its thumbnail.
        delete_if_unreferenced(deleted.thumbnail.name or thumbnail_name(deleted.sha256))
        delete_public_copy(deleted.original.name)

    transaction.on_commit(clean_up)
