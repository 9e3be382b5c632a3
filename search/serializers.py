"""Search results are images (the same JSON as `ingestion.serializers.ImageSerializer`) with a
score, and for duplicates the PDQ distance and the kind of match."""

from __future__ import annotations

from rest_framework import serializers

from ingestion.models import Image
from ingestion.serializers import ImageSerializer

from .duplicates import Duplicate
from .service import Result


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

    class Meta(SearchResultSerializer.Meta):
        fields = [*SearchResultSerializer.Meta.fields, "pdq_distance", "kind"]
        read_only_fields = fields

    def get_pdq_distance(self, image: Image) -> int | None:
        return self.context["duplicates"][image.pk].pdq_distance

    def get_kind(self, image: Image) -> str:
        return self.context["duplicates"][image.pk].kind


def results_json(results: list[Result], request) -> list[dict]:
    context = {
        "request": request,
        "scores": {r.image.pk: r.score for r in results},
        "matches": {r.image.pk: r.matches for r in results},
        "copies": {r.image.pk: r.copies for r in results},
    }
    return SearchResultSerializer([r.image for r in results], many=True, context=context).data


def duplicates_json(found: list[Duplicate], request) -> list[dict]:
    context = {
        "request": request,
        "scores": {d.image.pk: d.score for d in found},
        "duplicates": {d.image.pk: d for d in found},
    }
    return DuplicateSerializer([d.image for d in found], many=True, context=context).data
