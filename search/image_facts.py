"""What search knows about an image, for the image JSON that ingestion serves
(`ingestion.facts`): one query per kind of fact for a whole page of images; and the image filter's
conditions on them (`ingestion.filters.provide_condition`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q

from . import vectors
from .models import HashVariant, OcrRun
from .pipeline import switching
from .variants import PLAIN


def hashes(image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The image's own PDQ hash, its plain variant (images not hashed yet have none)."""
    rows = HashVariant.objects.filter(image_id__in=image_ids, kind=PLAIN).values_list(
        "image_id", "pdq_hash", "quality"
    )
    return {pk: {"pdq_hash": pdq, "pdq_quality": quality} for pk, pdq, quality in rows}


def embeddings(image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The model whose vector indexes each image: the active model where the image has a vector
    of it, else "" (not indexed yet, or indexed before a switch and waiting to be again)."""
    model_id = switching.active_model_id()
    return {pk: {"embedding_model": model_id} for pk in vectors.holding(image_ids, model_id)}


def words(image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The words read (`OcrRun.text`); an image never read has none (EMPTY's "")."""
    rows = OcrRun.objects.filter(image_id__in=image_ids).values_list("image_id", "text")
    return {pk: {"ocr_text": text} for pk, text in rows}


def has_text(wanted: bool) -> Q:
    """`ImageFilter(has_text=...)`'s condition (handed to `ingestion.filters`): images in which
    words were read, or the others (those never read included)."""
    with_words = Q(pk__in=OcrRun.objects.exclude(text="").values("image_id"))
    return with_words if wanted else ~with_words
