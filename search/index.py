"""The search index facade: which Milvus collections hold an image, and publishing, unpublishing
and reconciling an image across all of them in one place. The rest of the app speaks images here;
`search.vector_store` below speaks rows and collections.

Two kinds of collection, both rebuilt from the database alone:
- one per embedding model and dimension (cosine), from `Image.embedding` (the active model's
  vector) and `search.models.ModelEmbedding` (a model being switched to, or the previous one);
- one for PDQ hashes, as 256-dim +1/-1 vectors under inner product (Milvus Lite has no binary
  vectors): Hamming distance = (256 - IP) / 2;
- one for the hashes of an image's transforms (`search.models.HashVariant`: the plain image,
  its border-trimmed copy, central crops, corners and one side cut off; the turns and flips are
  only ever queried), and one for the ban bank's hashes, both with row id = owner id *
  VARIANT_SLOTS + the variant's slot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import prefetch_related_objects

from ingestion.models import Image

from .models import HashVariant, ModelEmbedding, ModelSwitch
from .vector_store import SearchFilter, VectorRow, VectorStore, collection_name

PDQ_BITS = 256
PDQ_COLLECTION = "pdq_256"
VARIANT_COLLECTION = "pdq_variants_256"
BAN_COLLECTION = "pdq_bans_256"
# The variants published (and their slot in the row id); the dihedral ones are only queried:
# a mirrored upload's "mirror" hash meets the original's "plain" one.
STORED_KINDS = {
    "plain": 0,
    "trim": 1,
    "crop90": 2,
    "crop80": 3,
    "crop75": 4,
    "crop90-tl": 5,
    "crop90-tr": 6,
    "crop90-bl": 7,
    "crop90-br": 8,
    "cut10-top": 9,
    "cut10-bottom": 10,
    "cut10-left": 11,
    "cut10-right": 12,
}
_KIND_OF_SLOT = {slot: kind for kind, slot in STORED_KINDS.items()}
VARIANT_SLOTS = 16  # room for more kinds; owner ids stay below 2**59
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


def drop_embedding_store(model_id: str, dim: int) -> None:
    """Remove a model's collection from Milvus (after a switch, once its vectors are let go)."""
    name = collection_name(model_id, dim)
    with _lock:
        store = _collections.pop(name, None) or VectorStore(name, dim)
    store.drop()


def hash_store() -> VectorStore:
    return _collection(PDQ_COLLECTION, PDQ_BITS, metric="IP")


def variant_store() -> VectorStore:
    return _collection(VARIANT_COLLECTION, PDQ_BITS, metric="IP")


def ban_store() -> VectorStore:
    return _collection(BAN_COLLECTION, PDQ_BITS, metric="IP")


def variant_row_id(owner_id: int, kind: str) -> int:
    return int(owner_id) * VARIANT_SLOTS + STORED_KINDS[kind]


def split_row_id(row_id: int) -> tuple[int, str]:
    owner_id, slot = divmod(int(row_id), VARIANT_SLOTS)
    return owner_id, _KIND_OF_SLOT.get(slot, "?")


def all_variant_ids(owner_id: int) -> list[int]:
    return [variant_row_id(owner_id, kind) for kind in STORED_KINDS]


def pdq_vector(hex_hash: str) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_hash), dtype=np.uint8))
    return (bits.astype(np.float32) * 2.0 - 1.0)[:PDQ_BITS]


def image_row(image: Image, vector: np.ndarray) -> VectorRow:
    """What Milvus keeps beside a vector: enough to filter by viewer, owner, visibility and date."""
    return VectorRow(
        id=image.pk,
        vector=np.asarray(vector, dtype=np.float32),
        owner_id=image.owner_id,
        # Withheld by moderation: public to nobody (its owner still finds it as its owner).
        is_public=image.is_public and image.moderation != Image.Moderation.HIDDEN,
        created_at=int(image.created_at.timestamp()),
    )


def stored_variants(image: Image) -> list[HashVariant]:
    """The variants `image` publishes: stored kinds whose hash is strong enough to link."""
    return [
        v
        for v in image.hash_variants.all()
        if v.kind in STORED_KINDS and v.quality >= settings.PDQ_MIN_QUALITY
    ]


def variant_rows_of(image: Image) -> list[VectorRow]:
    base = image_row(image, np.zeros(PDQ_BITS, dtype=np.float32))
    return [
        VectorRow(
            id=variant_row_id(image.pk, v.kind),
            vector=pdq_vector(v.pdq_hash),
            owner_id=base.owner_id,
            is_public=base.is_public,
            created_at=base.created_at,
        )
        for v in stored_variants(image)
    ]


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
    if image.pk is not None:  # a model switch's other vectors (usually prefetched: see publish)
        for other in image.model_embeddings.all():
            if other.model_id != image.embedding_model:
                extra = other.as_array()
                found.append(Placement(embedding_store(other.model_id, len(extra)), image_row(image, extra)))
    if image.pdq_hash:
        found.append(Placement(hash_store(), image_row(image, pdq_vector(image.pdq_hash))))
    rows = variant_rows_of(image)
    if rows:
        store = variant_store()
        found.extend(Placement(store, row) for row in rows)
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
    prefetch_related_objects([i for i in images if i.pk is not None], "hash_variants", "model_embeddings")
    for store, rows in _by_store(images).values():
        store.upsert(rows)
        store.flush()


def unpublish(images: Sequence[Image]) -> None:
    """Remove the images from every collection they were published to. Raises VectorStoreError."""
    for store, rows in _by_store(images).values():
        store.delete([row.id for row in rows])
        store.flush()
    # A deleted image's variant rows are gone from the database: delete every slot it could have.
    variant_ids = [row_id for image in images for row_id in all_variant_ids(image.pk)]
    if variant_ids:
        variant_store().delete(variant_ids)
        variant_store().flush()
    # Likewise its vectors of a model switch's other models (ModelEmbedding rows cascade away).
    ids = [image.pk for image in images if image.pk is not None]
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


def model_rows(model_id: str) -> Callable[[list[int]], list[VectorRow]]:
    """Rows of one model's collection for these image ids, from wherever the database keeps the
    vector: `Image.embedding` when it is that model's, else its ModelEmbedding row."""

    def rows_for(ids: list[int]) -> list[VectorRow]:
        images = Image.objects.filter(pk__in=ids)
        others = dict(
            ModelEmbedding.objects.filter(model_id=model_id, image_id__in=ids).values_list(
                "image_id", "vector"
            )
        )
        rows = []
        for image in images:
            if image.embedding_model == model_id and image.embedding:
                rows.append(image_row(image, image.embedding_vector()))
            elif image.pk in others:
                rows.append(image_row(image, np.frombuffer(bytes(others[image.pk]), dtype=np.float32)))
        return rows

    return rows_for


def hash_rows(ids: list[int]) -> list[VectorRow]:
    return [image_row(i, pdq_vector(i.pdq_hash)) for i in Image.objects.filter(pk__in=ids)]


def variant_rows(ids: list[int]) -> list[VectorRow]:
    """Rows of the variant collection for these row ids (rebuilt from the database)."""
    owners = {split_row_id(i)[0] for i in ids}
    wanted = set(ids)
    images = Image.objects.filter(pk__in=owners).prefetch_related("hash_variants")
    return [row for image in images for row in variant_rows_of(image) if row.id in wanted]


def sync_variants() -> SyncResult:
    """Make the variant collection hold exactly the strong stored variants of images not failed."""
    wanted = {
        variant_row_id(image_id, kind)
        for image_id, kind in HashVariant.objects.filter(
            kind__in=list(STORED_KINDS), quality__gte=settings.PDQ_MIN_QUALITY
        )
        .exclude(image__status=Image.Status.FAILED)
        .values_list("image_id", "kind")
    }
    return sync_collection(variant_store(), wanted, variant_rows)


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
    others = ModelEmbedding.objects.order_by().values_list("model_id", flat=True).distinct()
    for model_id in others:
        if model_id not in found:
            found[model_id] = len(ModelEmbedding.objects.filter(model_id=model_id).first().as_array())
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


@dataclass(frozen=True)
class VariantMatch:
    """The closest pair of hashes between a query image and one stored owner (image or ban)."""

    owner_id: int
    distance: int
    stored_kind: str
    query_kind: str


_QUERY_CHUNK = 512  # query vectors per Milvus call


def variant_matches(
    store: VectorStore,
    queries: dict[int, list[tuple[str, str]]],
    max_distance: int,
    limit: int = 20,
) -> dict[int, list[VariantMatch]]:
    """For each query key, the stored owners whose variants lie within `max_distance` of any of
    its (kind, hex hash) queries, nearest first: all keys' hashes go to Milvus in a few batched
    searches, never one search per image pair. Each hash keeps its `limit` nearest stored
    variants (a top-k search: Milvus Lite answers range searches by scanning, 25x slower)."""
    flat = [(key, kind, hex_hash) for key, hashes in queries.items() for kind, hex_hash in hashes]
    best: dict[int, dict[int, VariantMatch]] = {key: {} for key in queries}
    min_ip = PDQ_BITS - 2 * max_distance
    for start in range(0, len(flat), _QUERY_CHUNK):
        chunk = flat[start : start + _QUERY_CHUNK]
        vectors = np.stack([pdq_vector(h) for _, _, h in chunk])
        results = store.search_many(vectors, limit=limit, min_score=min_ip)
        for (key, query_kind, _), hits in zip(chunk, results, strict=True):
            for hit in hits:
                owner_id, stored_kind = split_row_id(hit.id)
                distance = round((PDQ_BITS - hit.score) / 2)
                current = best[key].get(owner_id)
                if current is None or distance < current.distance:
                    best[key][owner_id] = VariantMatch(owner_id, distance, stored_kind, query_kind)
    order = lambda m: (m.distance, m.owner_id)  # noqa: E731
    return {key: sorted(found.values(), key=order) for key, found in best.items()}
