"""Where every image vector lives: one `search.models.ModelEmbedding` row per image and model. The
row of the active model (`search.pipeline.switching.active_model_id`) is the one searches, similar,
duplicates, `image:ID` and labels read; during a switch the target's rows are written beside it,
and after one the previous model's stay until it is dropped. Callers name the model: this module
sits below the pipeline and the query side and knows nothing of switches."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery

from ingestion.models import Image

from .models import ModelEmbedding


def as_vector(blob: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(blob), dtype=np.float32)


def of_images(image_ids: Iterable[int], model_id: str) -> dict[int, np.ndarray]:
    """`model_id`'s vectors of these images, in one query; images without one are left out."""
    rows = ModelEmbedding.objects.filter(model_id=model_id, image_id__in=list(image_ids))
    return {pk: as_vector(blob) for pk, blob in rows.values_list("image_id", "vector")}


def of_image(image_id: int, model_id: str) -> np.ndarray | None:
    return of_images([image_id], model_id).get(image_id)


def stored_vector(model_id: str) -> Subquery:
    """For `annotate`: the outer image's vector of `model_id` (bytes, or None where it has none)."""
    rows = ModelEmbedding.objects.filter(image=OuterRef("pk"), model_id=model_id)
    return Subquery(rows.values("vector")[:1])


def holding(image_ids: Iterable[int], model_id: str) -> set[int]:
    """Those of these images that have a vector of `model_id`."""
    rows = ModelEmbedding.objects.filter(model_id=model_id, image_id__in=list(image_ids))
    return set(rows.values_list("image_id", flat=True))


def holder_ids(model_id: str) -> QuerySet:
    """Ids of the images with a vector of `model_id` (a subquery: `pk__in=` it)."""
    return ModelEmbedding.objects.filter(model_id=model_id).values("image_id")


def published_ids(model_id: str) -> set[int]:
    """Images whose vector of `model_id` belongs in its collection: not failed, not in the trash
    (a join skips the default manager's trash filter)."""
    rows = (
        ModelEmbedding.objects.filter(model_id=model_id, image__trashed_at__isnull=True)
        .exclude(image__status=Image.Status.FAILED)
        .values_list("image_id", flat=True)
    )
    return set(rows)


def dimension(model_id: str) -> int:
    """The length of `model_id`'s vectors (0 when none is stored)."""
    row = ModelEmbedding.objects.filter(model_id=model_id).only("vector").first()
    return 0 if row is None else len(row.as_array())


def model_dimensions() -> dict[str, int]:
    """Model id -> dimension of every model the database holds vectors of."""
    ids = ModelEmbedding.objects.order_by().values_list("model_id", flat=True).distinct()
    return {model_id: dimension(model_id) for model_id in ids}


def store(model_id: str, vectors: dict[int, np.ndarray]) -> list[int]:
    """Keep `model_id`'s vectors of these images (upserted), skipping images deleted or trashed
    meanwhile. Returns the ids kept."""
    existing = set(Image.objects.filter(pk__in=list(vectors)).values_list("pk", flat=True))
    rows = [
        ModelEmbedding(image_id=pk, model_id=model_id, vector=np.asarray(v, dtype=np.float32).tobytes())
        for pk, v in vectors.items()
        if pk in existing
    ]
    try:
        with transaction.atomic():
            ModelEmbedding.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["image", "model_id"], update_fields=["vector"]
            )
    except IntegrityError:  # an image deleted between the two statements: one by one
        for row in rows:
            try:
                with transaction.atomic():
                    ModelEmbedding.objects.update_or_create(
                        image_id=row.image_id, model_id=model_id, defaults={"vector": row.vector}
                    )
            except IntegrityError:
                existing.discard(row.image_id)
    return sorted(existing & set(vectors))
