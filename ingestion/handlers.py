"""Ingestion's own receivers, connected in `IngestionConfig.ready()` like every receiver of the
project (search and moderation keep theirs in their `handlers.py` too)."""

from __future__ import annotations

import copy

from django.db import transaction

from .metadata import delete_public_copy
from .models import Image
from .signals import image_visibility_changed
from .storage import delete_if_unreferenced, thumbnail_name


def announce_visibility_change(sender, instance: Image, created: bool, **kwargs) -> None:
    """`post_save(Image)`: covers every way a row is saved (pages, API, the Django admin)."""
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


def delete_unreferenced_files(sender, instance: Image, **kwargs) -> None:
    """`post_delete(Image)`: the stored files no other row references, once the delete commits."""
    # A copy: delete() clears instance.pk, before the callback runs when an outer transaction is open.
    deleted = copy.copy(instance)

    def clean_up() -> None:
        delete_if_unreferenced(deleted.original.name)
        # Also by its content hash: a row loaded before indexing finished does not name its thumbnail.
        delete_if_unreferenced(deleted.thumbnail.name or thumbnail_name(deleted.sha256))
        delete_public_copy(deleted.original.name)

    transaction.on_commit(clean_up)
