"""Originals and thumbnails are served through permission checks, never as public files."""

from __future__ import annotations

import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .access import get_image_for_user


def _viewer(request):
    """Session user for pages; an API token works too, for API clients following `url`."""
    if request.user.is_authenticated:
        return request.user
    try:
        found = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        found = None
    return found[0] if found else request.user


def _serve(request, pk: int, field: str, content_type: str | None = None):
    image = get_image_for_user(_viewer(request), pk)
    name = getattr(image, field).name
    if not name or not default_storage.exists(name):
        raise Http404("File not available.")
    response = FileResponse(
        default_storage.open(name, "rb"),
        content_type=content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
    )
    # Content-addressed: a name's bytes never change.
    privacy = "public" if image.is_public else "private"
    response["Cache-Control"] = f"{privacy}, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def original(request, pk: int):
    return _serve(request, pk, "original")


@require_GET
def thumbnail(request, pk: int):
    return _serve(request, pk, "thumbnail", "image/webp")
