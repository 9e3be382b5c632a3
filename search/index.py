"""The search index facade: which Milvus collections hold an image, and publishing, unpublishing
and reconciling an image across all of them in one place. The rest of the app speaks images here;
`search.vector_store` below speaks rows and collections.

Two kinds of collection, both rebuilt from the database alone:
- one per embedding model and dimension (cosine), from `Image.embedding`;
- one for PDQ hashes, as 256-dim +1/-1 vectors under inner product (Milvus Lite has no binary
  vectors): Hamming distance = (256 - IP) / 2.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ingestion.models import Image

from .vector_store import SearchFilter, VectorRow, VectorStore, collection_name

PDQ_BITS = 256
PDQ_COLLECTION = "pdq_256"
_RESTORE_BATCH = 500

_collections: dict[str, VectorStore] = {}
_lock = threading.Lock()


def _collection(name: str, dim: int, metric: str = "COSINE") -> VectorStore:
    """The process-wide handle of one collection, created in Milvus on first use."""
    with _lock:
        store = _collections.get(name)
        if store is None:
            store = VectorStore(name, dim, metric=metric)
            store.ensure_collection()
            _collections[name] = store
        return store


def forget_collections() -> None:
    """Drop cached handles (after Milvus lost its data, or when MILVUS_URI changes)."""
    with _lock:
        _collections.clear()


def embedding_store(model_id: str, dim: int) -> VectorStore:
    return _collection(collection_name(model_id, dim), dim)


def hash_store() -> VectorStore:
    return _collection(PDQ_COLLECTION, PDQ_BITS, metric="IP")


def pdq_vector(hex_hash: str) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_hash), dtype=np.uint8))
    return (bits.astype(np.float32) * 2.0 - 1.0)[:PDQ_BITS]


def image_row(image: Image, vector: np.ndarray) -> VectorRow:
    """What Milvus keeps beside a vector: enough to filter by viewer, owner, visibility and date."""
    return VectorRow(
        id=image.pk,
        vector=np.asarray(vector, dtype=np.float32),
        owner_id=image.owner_id,
        is_public=image.is_public,
        created_at=int(image.created_at.timestamp()),
    )


@dataclass(frozen=True)
class Placement:
    """One collection an image belongs in, and its row there."""

    store: VectorStore
    row: VectorRow


def placements(image: Image) -> list[Placement]:
    """Every collection `image` belongs in, from what the database holds for it."""
    found = []
    vector = image.embedding_vector()
    if vector is not None and image.embedding_model:
        found.append(Placement(embedding_store(image.embedding_model, len(vector)), image_row(image, vector)))
    if image.pdq_hash:
        found.append(Placement(hash_store(), image_row(image, pdq_vector(image.pdq_hash))))
    return found


def _by_store(images: Iterable[Image]) -> dict[str, tuple[VectorStore, list[VectorRow]]]:
    grouped: dict[str, tuple[VectorStore, list[VectorRow]]] = {}
    for image in images:
        for placement in placements(image):
            grouped.setdefault(placement.store.name, (placement.store, []))[1].append(placement.row)
    return grouped


def publish(images: Sequence[Image]) -> None:
    """Write the images' rows to every collection they belong in (an upsert: also updates the
    visibility and owner that searches filter on). Raises VectorStoreError."""
    for store, rows in _by_store(images).values():
        store.upsert(rows)
        store.flush()


def unpublish(images: Sequence[Image]) -> None:
    """Remove the images from every collection they were published to. Raises VectorStoreError."""
    for store, rows in _by_store(images).values():
        store.delete([row.id for row in rows])
        store.flush()


# ---------------------------------------------------------------------------- reconcile


@dataclass(frozen=True)
class SyncResult:
    restored: int = 0
    orphans_deleted: int = 0


def sync_collection(
    store: VectorStore, wanted: set[int], rows_for: Callable[[list[int]], list[VectorRow]]
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


def embedding_rows(ids: list[int]) -> list[VectorRow]:
    return [image_row(i, i.embedding_vector()) for i in Image.objects.filter(pk__in=ids)]


def hash_rows(ids: list[int]) -> list[VectorRow]:
    return [image_row(i, pdq_vector(i.pdq_hash)) for i in Image.objects.filter(pk__in=ids)]


def embedding_models() -> dict[str, int]:
    """Model id -> dimension of every embedding the database holds."""
    found: dict[str, int] = {}
    models = (
        Image.objects.exclude(embedding=None)
        .exclude(embedding_model="")
        .order_by()  # the default ordering would make DISTINCT return one row per image
        .values_list("embedding_model", flat=True)
        .distinct()
    )
    for model_id in models:
        sample = Image.objects.filter(embedding_model=model_id).exclude(embedding=None).first()
        found[model_id] = len(sample.embedding_vector())
    return found


# ---------------------------------------------------------------------------- queries


def pdq_matches(
    hex_hash: str, max_distance: int, limit: int, search_filter: SearchFilter | None = None
) -> list[tuple[int, int]]:
    """(image id, Hamming distance) of stored hashes within `max_distance`, nearest first."""
    min_ip = PDQ_BITS - 2 * max_distance
    hits = hash_store().range_search(
        pdq_vector(hex_hash), min_score=min_ip, limit=limit, filter=search_filter, max_score=PDQ_BITS + 0.5
    )
    return [(hit.id, round((PDQ_BITS - hit.score) / 2)) for hit in hits]
