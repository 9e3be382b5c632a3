"""Search results are images (the same JSON as `ingestion.serializers.ImageSerializer`) with a
score, and for duplicates the PDQ distance and the kind of match."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from ingestion import renditions
from ingestion.access import is_moderator
from ingestion.models import Image
from ingestion.serializers import ImageSerializer

from .image_facts import embeddings
from .query.duplicates import Duplicate
from .query.service import Result


class SearchResultSerializer(ImageSerializer):
    score = serializers.SerializerMethodField()
    title = serializers.CharField(source="display_title", read_only=True)
    matches = serializers.SerializerMethodField(
        help_text='Signals that found it: "semantic", "title", "tags", "filename", "ocr"'
    )
    copies = serializers.SerializerMethodField(help_text="Exact or near duplicates shown as this one result")
    copy_ids = serializers.SerializerMethodField()

    class Meta(ImageSerializer.Meta):
        fields = ["id", "score", "matches", "copies", "copy_ids", *ImageSerializer.Meta.fields[1:]]
        read_only_fields = fields

    def get_score(self, image: Image) -> float:
        return round(self.context["scores"][image.pk], 6)

    def get_matches(self, image: Image) -> list[str]:
        return list(self.context.get("matches", {}).get(image.pk, ()))

    def get_copies(self, image: Image) -> int:
        return len(self.context.get("copies", {}).get(image.pk, ()))

    def get_copy_ids(self, image: Image) -> list[int]:
        return list(self.context.get("copies", {}).get(image.pk, ()))


class DuplicateSerializer(SearchResultSerializer):
    pdq_distance = serializers.SerializerMethodField()
    kind = serializers.SerializerMethodField()
    variant = serializers.SerializerMethodField()

    class Meta(SearchResultSerializer.Meta):
        fields = [*SearchResultSerializer.Meta.fields, "pdq_distance", "kind", "variant"]
        read_only_fields = fields

    def get_pdq_distance(self, image: Image) -> int | None:
        return self.context["duplicates"][image.pk].pdq_distance

    def get_variant(self, image: Image) -> str:
        """Which hashes met: "<this image's transform>~<the duplicate's stored variant>"."""
        return self.context["duplicates"][image.pk].variant

    def get_kind(self, image: Image) -> str:
        return self.context["duplicates"][image.pk].kind


def results_context(results: list[Result], request) -> dict:
    return {
        "request": request,
        "scores": {r.image.pk: r.score for r in results},
        "matches": {r.image.pk: r.matches for r in results},
        "copies": {r.image.pk: r.copies for r in results},
    }


class _Urls:
    """An image's URLs as `ImageSerializer` makes them (absolute), but each URL name reversed once
    per response rather than five times per image: reverse() was a fifth of a search's time."""

    _ID = 2_000_000_001  # stands for the image id in the reversed pattern

    def __init__(self, request) -> None:
        self.prefix = request.build_absolute_uri("/")[:-1] if request is not None else ""
        self._parts: dict[str, list[str]] = {}

    def __call__(self, name: str, pk: int) -> str:
        parts = self._parts.get(name)
        if parts is None:
            parts = self._parts[name] = reverse(name, args=[self._ID]).split(str(self._ID))
        return self.prefix + str(pk).join(parts)


_DATETIME = serializers.DateTimeField()


def _moment(value) -> str | None:
    return _DATETIME.to_representation(value) if value else None


def words_read(image: Image) -> str:
    """The words read in the image (its `OcrRun`, loaded with the result); "" until read."""
    run = getattr(image, "ocr_run", None)  # a missing run raises a DoesNotExist that is an AttributeError
    return run.text if run is not None else ""


def _result_json(image: Image, result: Result, urls: _Urls, private: bool, embedding_model: str) -> dict:
    thumbnail = urls("image-thumbnail", image.pk) if image.thumbnail else None
    data = {
        "id": image.pk,
        "score": round(result.score, 6),
        "matches": list(result.matches),
        "copies": len(result.copies),
        "copy_ids": list(result.copies),
        "status": image.status,
        "failure_reason": image.failure_reason,
        "title": image.display_title,
        "tags": [t.name for t in image.tags.all()],
        "owner": image.owner.username,
        "visibility": image.visibility,
        "created_at": _moment(image.created_at),
        "indexed_at": _moment(image.indexed_at),
        "taken_at": _moment(image.taken_at),
        "url": urls("image-file", image.pk),
        "thumbnail_url": thumbnail,
        "thumbnails": {size: f"{thumbnail}?size={size}" for size in renditions.NAMES} if thumbnail else None,
        "page_url": urls("image-detail", image.pk),
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "size_bytes": image.size_bytes,
        "original_filename": image.original_filename,
        "sha256": image.sha256,
        "pdq_hash": result.pdq_hash,
        "pdq_quality": result.pdq_quality,
        "embedding_model": embedding_model,
        "ocr_text": words_read(image),
    }
    if private:
        data["moderation"] = image.moderation
        data["moderation_reason"] = image.moderation_reason
    return data


def results_json(results: list[Result], request) -> list[dict]:
    """Exactly what `SearchResultSerializer` gives (tests/search/test_serializers.py compares them),
    built directly: DRF's field machinery took longer than the whole database side of a search."""
    urls = _Urls(request)
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    moderator = signed_in and is_moderator(user)
    models = embeddings([r.image.pk for r in results]) if results else {}  # one query for the page
    return [
        _result_json(
            r.image,
            r,
            urls,
            signed_in and (moderator or user.pk == r.image.owner_id),
            models.get(r.image.pk, {}).get("embedding_model", ""),
        )
        for r in results
    ]


def duplicates_json(found: list[Duplicate], request) -> list[dict]:
    context = {
        "request": request,
        "scores": {d.image.pk: d.score for d in found},
        "duplicates": {d.image.pk: d for d in found},
    }
    return DuplicateSerializer([d.image for d in found], many=True, context=context).data
