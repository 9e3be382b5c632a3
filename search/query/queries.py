"""The web side of query embedding: a Celery RPC to the query worker with a short timeout."""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass

import numpy as np
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings

from core.errors import BadInput, ServiceUnavailable
from ingestion.access import visible_images
from ingestion.models import Image

from .. import tasks
from ..pipeline import switching
from .query_language import Query


class QueryUnavailable(ServiceUnavailable):
    """No embedding could be computed now (no worker, broker down, model missing): a 503."""


class BadQuery(BadInput):
    """The query itself is unusable: a 400."""


@dataclass(frozen=True)
class QueryVector:
    model_id: str
    vector: np.ndarray
    # Text terms longer than the model reads, each with how many of its characters it read.
    cut: tuple[tuple[str, int], ...] = ()

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])


def _ask(task, arg) -> dict:
    timeout = settings.QUERY_TIMEOUT
    try:
        result = task.apply_async(args=[arg], queue=settings.QUERY_QUEUE, expires=timeout, retry=False)
    except Exception as exc:
        raise QueryUnavailable(f"The task queue (Redis) is unreachable: {exc}") from exc
    try:
        answer = result.get(timeout=timeout, propagate=True)
    except CeleryTimeoutError as exc:
        raise QueryUnavailable(
            f"No search worker answered within {timeout:g} s. Is the query worker running?"
        ) from exc
    except Exception as exc:
        raise QueryUnavailable(f"The search worker failed: {exc}") from exc
    finally:
        # A query vector is needed once: do not keep it in Redis for result_expires.
        with contextlib.suppress(Exception):
            result.forget()
    if "error" in answer:
        if answer.get("kind") == "input":
            raise BadQuery(answer["error"])
        raise QueryUnavailable(answer["error"])
    return answer


def _call(task, arg: str) -> QueryVector:
    answer = _ask(task, arg)
    return QueryVector(answer["model"], np.asarray(answer["vector"], dtype=np.float32))


def embed_texts(texts: list[str]) -> list[QueryVector]:
    """Several texts in one batched call on the query worker."""
    answer = _ask(tasks.embed_texts, list(texts))
    read = answer.get("read") or [None] * len(texts)
    return [
        QueryVector(answer["model"], np.asarray(v, dtype=np.float32), () if n is None else ((text, int(n)),))
        for text, v, n in zip(texts, answer["vectors"], read, strict=True)
    ]


def embed_image(data: bytes) -> QueryVector:
    return _call(tasks.embed_image, base64.b64encode(data).decode("ascii"))


def example_vectors(query: Query, user) -> dict[int, QueryVector]:
    """The stored vectors of the query's image:ID terms. An image the viewer may not see gets the
    same answer as one that does not exist, so a query never confirms someone else's image."""
    ids = query.image_ids
    if not ids:
        return {}
    found = {i.pk: i for i in visible_images(user).filter(pk__in=ids)}
    indexed = [pk for pk, image in found.items() if image.status == Image.Status.INDEXED]
    model_id, stored = switching.active_vectors(indexed)
    vectors: dict[int, QueryVector] = {}
    for image_id in ids:
        if image_id not in found:
            raise BadQuery(f"image:{image_id} is not an image you can see.")
        vector = stored.get(image_id)
        if vector is None:
            raise BadQuery(f"image:{image_id} is not indexed yet, so it cannot be used as an example.")
        vectors[image_id] = QueryVector(model_id, vector)
    return vectors


def query_vector(
    query: Query, user, example: bytes | None = None, *, examples: dict[int, QueryVector] | None = None
) -> QueryVector:
    """The query as one unit vector: sum of weight x sign x unit vector of each term (text terms in
    one batched call, image:ID terms from their stored vectors, an uploaded example image with
    weight 1), renormalised. Negative terms push results away. `examples`: the image:ID vectors
    already read by `example_vectors` (then no database is used here: `service.search` embeds
    in another thread, beside the keyword side)."""
    # Refuse a bad image:ID before any embedding work.
    images = example_vectors(query, user) if examples is None else examples
    texts = query.text_terms
    parts: list[tuple[float, QueryVector]] = []
    if texts:
        vectors = embed_texts([t.text for t in texts])
        parts += [(t.signed_weight, v) for t, v in zip(texts, vectors, strict=True)]
    parts += [(t.signed_weight, images[t.image_id]) for t in query.image_terms if t.image_id is not None]
    if example is not None:
        parts.append((1.0, embed_image(example)))
    return weighted(parts)


def weighted(parts: list[tuple[float, QueryVector]]) -> QueryVector:
    models = {p.model_id for _, p in parts}
    if len(models) != 1:
        raise BadQuery(
            "The example images were indexed by another model than the one answering queries; "
            "reindex them or leave them out."
        )
    total = np.zeros_like(parts[0][1].vector, dtype=np.float32)
    for weight, part in parts:
        norm = float(np.linalg.norm(part.vector)) or 1.0
        total += np.float32(weight) * part.vector / norm
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise BadQuery(
            "The terms cancel each other out: the query points nowhere. Change a weight or a sign."
        )
    cut = tuple(c for _, part in parts for c in part.cut)
    return QueryVector(parts[0][1].model_id, (total / norm).astype(np.float32), cut)
