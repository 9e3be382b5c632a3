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
