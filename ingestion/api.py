"""Images API: upload, list, detail, edit, delete. Errors are raised, and mapped to JSON in one
place (`webapp.errors`)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response

from core.errors import BadInput

from . import services, trash
from .access import get_image_for_user
from .forms import ImageEditForm, ImageListForm, ImageUploadForm
from .intake import Intake, Source
from .serializers import ImageSerializer, ImageUpdateSerializer, ImageUploadSerializer
from .validation import check_request_size

LIST_FILTERS = [
    OpenApiParameter("owner", str, description="A username, or 'me'"),
    OpenApiParameter("visibility", str, enum=["public", "private"]),
    OpenApiParameter("status", str, enum=["pending", "indexed", "failed"]),
    OpenApiParameter("tag", str),
    OpenApiParameter(
        "ids",
        {"type": "string", "pattern": r"^\s*\d+(\s*,\s*\d+)*\s*$"},
        description="Comma-separated ids (at most 200)",
    ),
    OpenApiParameter("created_after", str, description="YYYY-MM-DD or an ISO 8601 date-time"),
    OpenApiParameter("created_before", str, description="YYYY-MM-DD (the whole day) or a date-time"),
    OpenApiParameter(
        "moderation",
        str,
        enum=["hidden"],
        description="Withheld images: yours, and for moderators public ones",
    ),
]


class ImageListCreate(generics.GenericAPIView):
    serializer_class = ImageSerializer
    permission_classes = [IsAuthenticatedOrReadOnly]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(parameters=LIST_FILTERS, responses=ImageSerializer(many=True))
    def get(self, request):
        filters = ImageListForm(request.query_params, user=request.user)
        page = self.paginate_queryset(filters.listing())
        data = ImageSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=ImageUploadSerializer, responses={201: ImageSerializer})
    def post(self, request):
        check_request_size(request)
        upload = request.FILES.get("file")
        if upload is None:
            raise BadInput("Send the image as a multipart form field named 'file'.")
        fields = ImageUploadForm(request.data).cleaned()
        intake = Intake.from_form(request.user, upload, upload.name, fields, Source.API)
        image = services.create_image(intake)  # a refused copy is a 409 (DuplicateUpload)
        body = ImageSerializer(image, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ImageDetail(generics.GenericAPIView):
    serializer_class = ImageSerializer
    permission_classes = [IsAuthenticatedOrReadOnly]
    # JSON, form and multipart: the defaults (settings), whose JSON parser bounds size and depth.

    def _body(self, request, pk: int) -> dict:
        return ImageSerializer(get_image_for_user(request.user, pk), context={"request": request}).data

    def get(self, request, pk: int):
        return Response(self._body(request, pk))

    @extend_schema(request=ImageUpdateSerializer, responses=ImageSerializer)
    def patch(self, request, pk: int):
        image = get_image_for_user(request.user, pk, write=True)
        if not isinstance(request.data, dict):
            raise BadInput("Send the changes as a JSON object or form fields.")
        services.update_image(image, **ImageEditForm(request.data).given())
        return Response(self._body(request, pk))

    def delete(self, request, pk: int):
        """Moves the image to the trash: restorable for TRASH_DAYS (`POST /api/images/{id}/restore/`),
        then deleted for good (`DELETE /api/trash/{id}/` does it now)."""
        image = get_image_for_user(request.user, pk, write=True, action="delete")
        trash.move_to_trash([image], request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
