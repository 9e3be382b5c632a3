"""/api/trash/: the viewer's trash (and, for moderators, what moderation resolves trashed),
restore, delete forever, empty. Rules in `ingestion.trash`; errors are raised and mapped to JSON
in `webapp.errors`."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.pagination import Pagination

from . import trash
from .models import Image


def trash_json(image: Image, viewer, refusal: str | None = None) -> dict:
    """One trashed image. Title, tags and picture only where `trash.shows_content` allows."""
    if refusal is None:
        refusal = trash.restore_refusal(image, viewer)
    data = {
        "id": image.pk,
        "owner": image.owner.username,
        "visibility": image.visibility,
        "status": image.status,
        "created_at": image.created_at,
        "trashed_at": image.trashed_at,
        "purge_at": trash.purge_at(image),
        "trashed_by": "moderation" if image.trash_origin == Image.TrashOrigin.MODERATION else "owner",
        "restorable": not refusal,
        "restore_refusal": refusal,
        "restore_url": reverse("api-image-restore", args=[image.pk]),
    }
    if trash.shows_content(image, viewer):
        data.update(
            title=image.title,
            tags=image.tag_names(),
            width=image.width,
            height=image.height,
            thumbnail_url=reverse("trash-thumbnail", args=[image.pk]) if image.thumbnail else None,
        )
    return data


# Named per method: the two views' GET and DELETE would share operation ids (a warning that
# keeps `check --deploy` from being clean).
@extend_schema(
    methods=["GET"],
    operation_id="trash_list",
    parameters=[
        OpenApiParameter("scope", str, enum=list(trash.SCOPES), description="moderation: moderators only")
    ],
    responses=OpenApiTypes.OBJECT,
)
@extend_schema(methods=["DELETE"], operation_id="trash_empty", responses=OpenApiTypes.OBJECT)
@api_view(["GET", "DELETE"])
@permission_classes([IsAuthenticated])
def trash_list(request):
    """GET: the trash, newest first (paginated). DELETE: empty your own trash for good."""
    if request.method == "DELETE":
        return Response({"deleted": trash.empty(request.user)})
    moderation = trash.parse_scope(request.query_params.get("scope"), request.user)
    queryset = trash.trash_of(request.user, moderation=moderation)
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request)
    body = paginator.get_paginated_response([trash_json(i, request.user) for i in page])
    body.data["trash_days"] = settings.TRASH_DAYS
    return body


@extend_schema(methods=["GET"], operation_id="trash_retrieve", responses=OpenApiTypes.OBJECT)
@extend_schema(methods=["DELETE"], operation_id="trash_destroy", responses={204: None})
@api_view(["GET", "DELETE"])
@permission_classes([IsAuthenticated])
def trash_detail(request, pk: int):
    """GET: one trashed image. DELETE: delete it for good now."""
    image = trash.get_trashed(request.user, pk)
    if request.method == "DELETE":
        trash.delete_forever(image, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(trash_json(image, request.user))


@extend_schema(request=None, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def restore(request, pk: int):
    """Back from the trash, with its title, tags and visibility, and searchable again."""
    image = trash.restore(trash.get_trashed(request.user, pk), request.user)
    return Response({"id": image.pk, "restored": True, "page_url": image.get_absolute_url()})
