"""What search knows about an image, for the image JSON that ingestion serves
(`ingestion.facts`): one query per kind of fact for a whole page of images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingestion.models import Image

from . import vectors
from .pipeline import switching


def hashes(image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = Image.all_objects.filter(pk__in=image_ids).values_list("pk", "pdq_hash", "pdq_quality")
    return {pk: {"pdq_hash": pdq, "pdq_quality": quality} for pk, pdq, quality in rows}


def embeddings(image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The model whose vector indexes each image: the active model where the image has a vector
    of it, else "" (not indexed yet, or indexed before a switch and waiting to be again)."""
    model_id = switching.active_model_id()
    return {pk: {"embedding_model": model_id} for pk in vectors.holding(image_ids, model_id)}


def words(image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = Image.all_objects.filter(pk__in=image_ids).values_list("pk", "ocr_text")
    return {pk: {"ocr_text": text} for pk, text in rows}
