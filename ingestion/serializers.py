from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import facts
from .access import is_moderator
from .models import Image


class ImageListSerializer(serializers.ListSerializer):
    """Reads the facts other apps keep (`ingestion.facts`) for the whole page at once."""

    def to_representation(self, data) -> list[dict]:
        images = list(data.all() if hasattr(data, "all") else data)
        self.child.page_facts = facts.of([image.pk for image in images])
        return super().to_representation(images)


class ImageSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    tags = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    thumbnails = serializers.SerializerMethodField(
        help_text="The other sizes, {small, medium, preview: url} (null until indexed): small and medium"
        " scale the shorter side to 256 and 512 px, preview the longer side to 1440 px; never upscaled."
    )
    page_url = serializers.SerializerMethodField()
    # Kept by search (`ingestion.facts`), not by this app.
    pdq_hash = serializers.SerializerMethodField(help_text="PDQ hash, 64 hex digits; empty until indexed")
    pdq_quality = serializers.SerializerMethodField(help_text="PDQ's quality, 0-100; null until indexed")
    embedding_model = serializers.SerializerMethodField(help_text="The model whose vector indexes it")
    ocr_text = serializers.SerializerMethodField(help_text="Words read in the image; empty until read")

    class Meta:
        model = Image
        list_serializer_class = ImageListSerializer
        fields = [
            "id",
            "status",
            "failure_reason",
            "title",
            "tags",
            "owner",
            "visibility",
            "created_at",
            "indexed_at",
            "taken_at",
            "url",
            "thumbnail_url",
            "thumbnails",
            "page_url",
            "width",
            "height",
            "format",
            "size_bytes",
            "original_filename",
            "sha256",
            "pdq_hash",
            "pdq_quality",
            "embedding_model",
            "ocr_text",
        ]
        read_only_fields = fields

    def to_representation(self, image: Image) -> dict:
        data = super().to_representation(image)
        # Moderation state is the owner's and moderators' business only (the contract).
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and (user.pk == image.owner_id or is_moderator(user)):
            data["moderation"] = image.moderation
            data["moderation_reason"] = image.moderation_reason
        return data

    def _facts(self, image: Image) -> dict:
        page = getattr(self, "page_facts", None)
        if page is None or image.pk not in page:
            page = self.page_facts = facts.of([image.pk])
        return page[image.pk]

    @extend_schema_field(OpenApiTypes.STR)
    def get_pdq_hash(self, image: Image) -> str:
        return self._facts(image)["pdq_hash"]

    @extend_schema_field({"type": "integer", "nullable": True})
    def get_pdq_quality(self, image: Image) -> int | None:
        return self._facts(image)["pdq_quality"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_embedding_model(self, image: Image) -> str:
        return self._facts(image)["embedding_model"]

    @extend_schema_field(OpenApiTypes.STR)
    def get_ocr_text(self, image: Image) -> str:
        return self._facts(image)["ocr_text"]

    def get_tags(self, image: Image) -> list[str]:
        return [t.name for t in image.tags.all()]

    def _absolute(self, path: str | None) -> str | None:
        request = self.context.get("request")
        if path is None or request is None:
            return path
        return request.build_absolute_uri(path)

    def get_url(self, image: Image) -> str:
        return self._absolute(image.file_url)

    def get_thumbnail_url(self, image: Image) -> str | None:
        return self._absolute(image.thumbnail_url)

    def get_thumbnails(self, image: Image) -> dict[str, str] | None:
        return {size: self._absolute(url) for size, url in image.thumbnail_urls.items()} or None

    def get_page_url(self, image: Image) -> str:
        return self._absolute(image.get_absolute_url())


class ImageUploadSerializer(serializers.Serializer):
    """Documents the multipart upload for the OpenAPI schema; parsing is done by the view."""

    file = serializers.FileField()
    title = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.CharField(required=False, allow_blank=True, help_text="Comma-separated")
    visibility = serializers.ChoiceField(choices=Image.Visibility.choices, required=False)
    allow_duplicate = serializers.BooleanField(
        required=False,
        default=True,
        help_text=(
            "false: a file you already have (same bytes) is refused: 409 with its id (duplicate_of); "
            "one in your trash too, with in_trash and restore_url"
        ),
    )


class ImageUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    tags = serializers.JSONField(required=False, help_text="A list of tags or a comma-separated string")
    visibility = serializers.ChoiceField(choices=Image.Visibility.choices, required=False)
