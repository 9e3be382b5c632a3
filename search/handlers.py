"""The search app's answers to what ingestion announces (connected in `SearchConfig.ready()`)."""

from __future__ import annotations

import copy
import logging

from django.db import transaction
from django.db.models import prefetch_related_objects

from ingestion.models import Image

from . import index
from .engines.vector_store import VectorStoreError
from .pipeline.queueing import enqueue_indexing

log = logging.getLogger(__name__)


def queue_new_images(sender, ids: list[int], **kwargs) -> None:
    enqueue_indexing(ids)


def republish_after_visibility_change(sender, image_id: int, **kwargs) -> None:
    """Milvus filters on visibility, so its copy must follow the database's."""
    image = Image.objects.filter(pk=image_id, status=Image.Status.INDEXED).first()
    if image is None:
        return  # not published yet: indexing publishes what is stored by then
    try:
        index.publish([image])
    except VectorStoreError as exc:
        log.warning("Milvus metadata for image %s not updated (reconcile will): %s", image_id, exc)


def read_vectors_before_delete(sender, instance: Image, **kwargs) -> None:
    """Read the image's vectors before they cascade away: `index.placements`, from which
    `unpublish_deleted_image` learns which collections hold it, finds them on the instance."""
    if instance.pk is not None:
        prefetch_related_objects([instance], "model_embeddings")


def unpublish_deleted_image(sender, instance: Image, **kwargs) -> None:
    # A copy: delete() clears instance.pk, before the callback runs when an outer transaction is open.
    deleted = copy.copy(instance)

    def unpublish() -> None:
        try:
            index.unpublish([deleted])
        except VectorStoreError as exc:
            # Search never shows rows that are gone, and reconcile deletes orphan vectors.
            log.warning("Vectors of deleted image %s left in Milvus: %s", deleted.pk, exc)

    transaction.on_commit(unpublish)


def unpublish_trashed_images(sender, ids: list[int], **kwargs) -> None:
    """Trashed images leave the index at once (reconcile would drop them too: they are no rows of
    `Image.objects`)."""
    try:
        index.unpublish(list(Image.all_objects.filter(pk__in=ids)))
    except VectorStoreError as exc:
        log.warning("Vectors of trashed images %s left in Milvus (reconcile drops them): %s", ids, exc)


def republish_restored_image(sender, image_id: int, **kwargs) -> None:
    """Back from the trash: published again from the stored vectors and hashes (no re-encoding),
    or indexed if it was trashed before it was."""
    image = Image.objects.filter(pk=image_id).first()
    if image is None:
        return
    if image.status == Image.Status.PENDING:
        enqueue_indexing([image.pk])
        return
    if image.status != Image.Status.INDEXED:
        return
    try:
        index.publish([image])
    except VectorStoreError as exc:
        log.warning("Restored image %s not republished yet (reconcile will): %s", image_id, exc)
