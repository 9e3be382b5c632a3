"""The search index facade: which Milvus collections hold an image, and publishing, unpublishing
and reconciling an image across all of them in one place. The rest of the app speaks images here;
`search.engines.vector_store` below speaks rows and collections.

Two kinds of collection, both rebuilt from the database alone:
- one per embedding model and dimension (cosine), from `search.models.ModelEmbedding` (the
  active model's vectors, and those of a model being switched to or of the previous one);
- one for the images' own PDQ hashes (their `HashVariant` of kind "plain"; `HashStore`: 256-bit
  binary vectors under Hamming on a Milvus server, 32 bytes a hash; +1/-1 float vectors under
  inner product on Milvus Lite, which has no binary vectors; searches answer Hamming distances on
  both);
- one for the hashes of an image's transforms (`search.models.HashVariant`: the plain image,
  its border-trimmed copy, central crops, corners and one side cut off; the turns and flips are
  only ever queried), and one for the ban bank's hashes, both with row id = owner id *
  VARIANT_SLOTS + the variant's slot (`search.variants`; the judgement is `search.query.copies`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
from django.conf import settings
from django.db.models import prefetch_related_objects

from ingestion.models import Image

from . import variants, vectors
from .engines.vector_store import Collection, HashStore, VectorRow, VectorStore, collection_name
from .models import HashVariant, ModelSwitch, plain_variant, with_plain_hash

PDQ_COLLECTION = "pdq_256"
_RESTORE_BATCH = 500

_Store = TypeVar("_Store", VectorStore, HashStore)
_collections: dict[str, Collection] = {}
_lock = threading.Lock()


def _collection(name: str, dim: int) -> VectorStore:
    """The process-wide handle of one embedding collection, created in Milvus on first use."""
    return _cached(name, lambda: VectorStore(name, dim))


def _hash_collection(base_name: str) -> HashStore:
    """The process-wide handle of one hash collection (its layout and name follow the engine)."""
    return _cached(base_name, lambda: HashStore(base_name, variants.PDQ_BITS))


def _cached(key: str, make: Callable[[], _Store]) -> _Store:
    with _lock:
        store = _collections.get(key)
        if store is None:
            store = make()
            store.ensure_collection()
            _collections[key] = store
        return cast(_Store, store)


def forget_collections() -> None:
    """Drop cached handles (after Milvus lost its data, or when MILVUS_URI changes)."""
    with _lock:
        _collections.clear()


def embedding_store(model_id: str, dim: int) -> VectorStore:
    return _collection(collection_name(model_id, dim), dim)


def drop_embedding_store(model_id: str, dim: int) -> None:
    """Remove a model's collection from Milvus (after a switch, once its vectors are let go)."""
    name = collection_name(model_id, dim)
    with _lock:
        store = _collections.pop(name, None) or VectorStore(name, dim)
    store.drop()


def hash_store() -> HashStore:
    return _hash_collection(PDQ_COLLECTION)


def drop_earlier_variant_layouts() -> None:
    """The variant and ban collections of an earlier row-id layout: their ids mean other rows now;
    and on a Milvus server, the float layout of every hash collection, which the binary one (other
    names, filled by `reconcile`) replaces: 1 KB a hash held in memory for nothing."""
    for name in variants.EARLIER_COLLECTIONS:
        VectorStore(name, variants.PDQ_BITS, metric="IP").drop()
    for store in (hash_store(), variant_store(), ban_store()):
        if store.binary:
            VectorStore(store.layout_names()[0], variants.PDQ_BITS, metric="IP").drop()


def variant_store() -> HashStore:
    return _hash_collection(variants.VARIANT_COLLECTION)


def ban_store() -> HashStore:
    return _hash_collection(variants.BAN_COLLECTION)


def image_row(image: Image, vector: np.ndarray | str) -> VectorRow:
    """What Milvus keeps beside a vector (or a hash, in hex): enough to filter by viewer, owner,
    visibility and date."""
    return VectorRow(
        id=image.pk,
        vector=vector if isinstance(vector, str) else np.asarray(vector, dtype=np.float32),
        owner_id=image.owner_id,
        # Withheld by moderation: public to nobody (its owner still finds it as its owner).
        is_public=image.is_public and image.moderation != Image.Moderation.HIDDEN,
        created_at=int(image.created_at.timestamp()),
    )


def stored_variants(image: Image) -> list[HashVariant]:
    """The variants `image` publishes: stored kinds whose hash is strong enough to link."""
    return [v for v in image.hash_variants.all() if variants.is_stored(v.kind) and variants.strong(v.quality)]


def variant_rows_of(image: Image) -> list[VectorRow]:
    base = image_row(image, "")
    return [
        VectorRow(
            id=variants.row_id(image.pk, v.kind),
            vector=v.pdq_hash,
            owner_id=base.owner_id,
            is_public=base.is_public,
            created_at=base.created_at,
        )
        for v in stored_variants(image)
    ]


@dataclass(frozen=True)
class Placement:
    """One collection an image belongs in, and its row there."""

    store: Collection
    row: VectorRow


def placements(image: Image) -> list[Placement]:
    """Every collection `image` belongs in, from what the database holds for it."""
    found = []
    if image.pk is not None:  # one vector per model (usually prefetched: see publish)
        for stored in image.model_embeddings.all():
            vector = stored.as_array()
            found.append(Placement(embedding_store(stored.model_id, len(vector)), image_row(image, vector)))
    plain = plain_variant(image) if image.pk is not None else None
    if plain is not None:
        found.append(Placement(hash_store(), image_row(image, plain.pdq_hash)))
    rows = variant_rows_of(image)
    if rows:
        store = variant_store()
        found.extend(Placement(store, row) for row in rows)
    return found


def _by_store(images: Iterable[Image]) -> dict[str, tuple[Collection, list[VectorRow]]]:
    grouped: dict[str, tuple[Collection, list[VectorRow]]] = {}
    for image in images:
        for placement in placements(image):
            grouped.setdefault(placement.store.name, (placement.store, []))[1].append(placement.row)
    return grouped


def publish(images: Sequence[Image]) -> None:
    """Write the images' rows to every collection they belong in (an upsert: also updates the
    visibility and owner that searches filter on). Raises VectorStoreError."""
    prefetch_related_objects([i for i in images if i.pk is not None], "hash_variants", "model_embeddings")
    for store, rows in _by_store(images).values():
        store.upsert(rows)
        store.flush()


def unpublish(images: Sequence[Image]) -> None:
    """Remove the images from every collection they were published to. Raises VectorStoreError."""
    # Deleted images' vectors were read before they cascaded away (the instances keep them).
    prefetch_related_objects([i for i in images if i.pk is not None], "model_embeddings")
    for store, rows in _by_store(images).values():
        store.delete([row.id for row in rows])
        store.flush()
    # A deleted image's variant rows are gone from the database, its plain hash with them: delete
    # every row it could have.
    ids = [image.pk for image in images if image.pk is not None]
    if ids:
        hash_store().delete(ids)
        hash_store().flush()
    variant_ids = [row_id for image in images for row_id in variants.all_row_ids(image.pk)]
    if variant_ids:
        variant_store().delete(variant_ids)
        variant_store().flush()
    # Likewise its vectors of a model switch's other models, should the rows have cascaded away
    # unread (`search.handlers.read_vectors_before_delete` keeps them for `placements`).
    for store in switch_stores():
        if ids:
            store.delete(ids)
            store.flush()


def switch_stores() -> list[VectorStore]:
    """The collections of the model being switched to and of the previous one, if known."""
    row = ModelSwitch.objects.filter(pk=1).first()
    if row is None:
        return []
    pairs = {(row.target, row.target_dim), (row.previous, row.previous_dim)}
    return [embedding_store(model_id, dim) for model_id, dim in sorted(pairs) if model_id and dim]


# ---------------------------------------------------------------------------- reconcile


@dataclass(frozen=True)
class SyncResult:
    restored: int = 0
    orphans_deleted: int = 0


def sync_collection(
    store: Collection, wanted: set[int], rows_for: Callable[[list[int]], list[VectorRow]]
) -> SyncResult:
    """Make one collection hold exactly `wanted`: restore the missing rows (built by `rows_for`
    from the database) and delete the rest. The one reconcile algorithm for every collection."""
    present = store.ids()
    missing = sorted(wanted - present)
    restored = 0
    for start in range(0, len(missing), _RESTORE_BATCH):
        rows = rows_for(missing[start : start + _RESTORE_BATCH])
        store.upsert(rows)
        restored += len(rows)
    orphans = sorted(present - wanted)
    if orphans:
        store.delete(orphans)
    store.flush()
    return SyncResult(restored, len(orphans))


def model_rows(model_id: str) -> Callable[[list[int]], list[VectorRow]]:
    """Rows of one model's collection for these image ids, from their ModelEmbedding rows."""

    def rows_for(ids: list[int]) -> list[VectorRow]:
        stored = vectors.of_images(ids, model_id)
        return [image_row(image, stored[image.pk]) for image in Image.objects.filter(pk__in=list(stored))]

    return rows_for


def hash_rows(ids: list[int]) -> list[VectorRow]:
    images = with_plain_hash(Image.objects.filter(pk__in=ids))
    return [image_row(i, i.plain_pdq_hash) for i in images if i.plain_pdq_hash]


def variant_rows(ids: list[int]) -> list[VectorRow]:
    """Rows of the variant collection for these row ids (rebuilt from the database)."""
    owners = {variants.split_row_id(i)[0] for i in ids}
    wanted = set(ids)
    images = Image.objects.filter(pk__in=owners).prefetch_related("hash_variants")
    return [row for image in images for row in variant_rows_of(image) if row.id in wanted]


def sync_variants() -> SyncResult:
    """Make the variant collection hold exactly the strong stored variants of images not failed."""
    wanted = {
        variants.row_id(image_id, kind)
        for image_id, kind in HashVariant.objects.filter(
            kind__in=list(variants.STORED_KINDS), quality__gte=settings.PDQ_MIN_QUALITY
        )
        .exclude(image__status=Image.Status.FAILED)
        .filter(image__trashed_at__isnull=True)  # a join skips the default manager's filter
        .values_list("image_id", "kind")
    }
    return sync_collection(variant_store(), wanted, variant_rows)


def embedding_models() -> dict[str, int]:
    """Model id -> dimension of every embedding the database holds."""
    return vectors.model_dimensions()
