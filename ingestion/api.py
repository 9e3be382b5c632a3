"""Images API: upload, list, detail, edit, delete."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response

from webapp.api import error

from . import services
from .filters import filter_images
from .models import Image
from .serializers import ImageSerializer, ImageUpdateSerializer, ImageUploadSerializer
from .validation import InvalidImage, check_request_size


def visible_images(request):
    return Image.objects.visible_to(request.user).select_related("owner").prefetch_related("tags")


class ImageListCreate(generics.GenericAPIView):
    serializer_class = ImageSerializer
    permission_classes = [IsAuthenticatedOrReadOnly]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=ImageSerializer(many=True))
    def get(self, request):
        try:
            images = filter_images(visible_images(request), request.query_params, request.user)
        except InvalidImage as exc:
            return error(str(exc), status.HTTP_400_BAD_REQUEST)
        page = self.paginate_queryset(images)
        data = ImageSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request=ImageUploadSerializer, responses={201: ImageSerializer})
    def post(self, request):
        try:
            check_request_size(request)
        except InvalidImage as exc:
            return error(str(exc), status.HTTP_400_BAD_REQUEST)
        upload = request.FILES.get("file")
        if upload is None:
            return error("Send the image as a multipart form field named 'file'.", 400)
        try:
            image = services.create_from_upload(
                request.user,
                upload,
                upload.name,
                title=request.data.get("title", ""),
                tags=services.parse_tags(request.data.getlist("tags")),
                visibility=services.parse_visibility(request.data.get("visibility")),
            )
        except InvalidImage as exc:
            return error(str(exc), status.HTTP_400_BAD_REQUEST)
        body = ImageSerializer(image, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ImageDetail(generics.GenericAPIView):
    serializer_class = ImageSerializer
    permission_classes = [IsAuthenticatedOrReadOnly]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_image(self, request, pk: int) -> Image:
        return get_object_or_404(visible_images(request), pk=pk)

    def get(self, request, pk: int):
        image = self.get_image(request, pk)
        return Response(ImageSerializer(image, context={"request": request}).data)

    @extend_schema(request=ImageUpdateSerializer, responses=ImageSerializer)
    def patch(self, request, pk: int):
        image = self.get_image(request, pk)
        if not image.editable_by(request.user):
            return error("Only the owner can change this image.", status.HTTP_403_FORBIDDEN)
        changes = ImageUpdateSerializer(data=request.data, partial=True)
        changes.is_valid(raise_exception=True)
        try:
            services.update_image(image, **changes.validated_data)
        except InvalidImage as exc:
            return error(str(exc), status.HTTP_400_BAD_REQUEST)
        image = self.get_image(request, pk)
        return Response(ImageSerializer(image, context={"request": request}).data)

    def delete(self, request, pk: int):
        image = self.get_image(request, pk)
        if not image.editable_by(request.user):
            return error("Only the owner can delete this image.", status.HTTP_403_FORBIDDEN)
        image.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
