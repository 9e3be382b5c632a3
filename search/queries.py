"""The web side of query embedding: a Celery RPC to the query worker with a short timeout."""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass

import numpy as np
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings

from core.errors import BadInput, ServiceUnavailable

from . import tasks


class QueryUnavailable(ServiceUnavailable):
    """No embedding could be computed now (no worker, broker down, model missing): a 503."""


class BadQuery(BadInput):
    """The query itself is unusable: a 400."""


@dataclass(frozen=True)
class QueryVector:
    model_id: str
    vector: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])


def _call(task, arg: str) -> QueryVector:
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
    return QueryVector(answer["model"], np.asarray(answer["vector"], dtype=np.float32))


def embed_text(text: str) -> QueryVector:
    return _call(tasks.embed_text, text)


def embed_image(data: bytes) -> QueryVector:
    return _call(tasks.embed_image, base64.b64encode(data).decode("ascii"))


def image_query(data: bytes, text: str = "") -> QueryVector:
    """An example image, with optional words added to it."""
    parts = [embed_image(data)]
    if text:
        parts.append(embed_text(text))
    return combine(*parts)


def combine(*parts: QueryVector) -> QueryVector:
    """Sum of unit vectors, renormalised: text and image terms weigh the same."""
    models = {p.model_id for p in parts}
    if len(models) != 1:
        raise QueryUnavailable("Query parts were embedded by different models; try again.")
    total = np.sum([p.vector for p in parts], axis=0)
    norm = float(np.linalg.norm(total)) or 1.0
    return QueryVector(parts[0].model_id, (total / norm).astype(np.float32))
