"""Which Milvus collection holds a model's vectors, and the row we store for an image."""

from __future__ import annotations

import threading

import numpy as np

from .vector_store import VectorRow, VectorStore, collection_name

_stores: dict[tuple[str, int], VectorStore] = {}
_lock = threading.Lock()


def store_for(model_id: str, dim: int) -> VectorStore:
    """The collection for one model: created on first use, then cached for the process."""
    key = (model_id, dim)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = VectorStore(collection_name(model_id, dim), dim)
            store.ensure_collection()
            _stores[key] = store
        return store


def forget_stores() -> None:
    """Drop cached handles (after a Milvus restart or in tests that swap MILVUS_URI)."""
    with _lock:
        _stores.clear()


def vector_row(image, vector: np.ndarray) -> VectorRow:
    return VectorRow(
        id=image.pk,
        vector=np.asarray(vector, dtype=np.float32),
        owner_id=image.owner_id,
        is_public=image.is_public,
        created_at=int(image.created_at.timestamp()),
    )


# PDQ hashes live in one model-independent collection as 256-dim +1/-1 vectors under inner
# product (Milvus Lite has no binary vectors): Hamming distance = (256 - IP) / 2.
PDQ_BITS = 256
PDQ_COLLECTION = "pdq_256"


def pdq_store() -> VectorStore:
    key = (PDQ_COLLECTION, PDQ_BITS)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = VectorStore(PDQ_COLLECTION, PDQ_BITS, metric="IP")
            store.ensure_collection()
            _stores[key] = store
        return store


def pdq_vector(hex_hash: str) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_hash), dtype=np.uint8))
    return (bits.astype(np.float32) * 2.0 - 1.0)[:PDQ_BITS]


def pdq_row(image) -> VectorRow:
    return vector_row(image, pdq_vector(image.pdq_hash))


def pdq_matches(hex_hash: str, max_distance: int, limit: int, search_filter=None) -> list[tuple[int, int]]:
    """(image id, Hamming distance) of stored hashes within `max_distance`, nearest first."""
    min_ip = PDQ_BITS - 2 * max_distance
    hits = pdq_store().range_search(
        pdq_vector(hex_hash), min_score=min_ip, limit=limit, filter=search_filter, max_score=PDQ_BITS + 0.5
    )
    return [(hit.id, round((PDQ_BITS - hit.score) / 2)) for hit in hits]
