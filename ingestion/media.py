"""Originals and thumbnails are served through permission checks, never as public files.

Only the owner gets the original byte for byte. Everyone else gets a copy without its location,
device serial numbers and owner name (ingestion/metadata.py), made once per stored original."""

from __future__ import annotations

import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseBadRequest
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .access import get_image_for_user
from .metadata import public_copy
from .renditions import NAMES
from .storage import rendition_name


def _viewer(request):
    """Session user for pages; an API token works too, for API clients following `url`."""
    if request.user.is_authenticated:
        return request.user
    try:
        found = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        found = None
    return found[0] if found else request.user


def _file_response(name: str, content_type: str, cache_control: str) -> FileResponse:
    response = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


@require_GET
def original(request, pk: int):
    viewer = _viewer(request)
    image = get_image_for_user(viewer, pk)
    name = image.original.name
    if not name or not default_storage.exists(name):
        raise Http404("File not available.")
    if viewer.is_authenticated and viewer.pk == image.owner_id:
        # The owner's bytes differ from what others get at the same URL: never in a shared cache.
        response = _file_response(name, _content_type(name), "private, max-age=86400")
    else:
        # Content-addressed: the sanitised copy of a name never changes.
        privacy = "public" if image.shown_to_everyone else "private"
        served = public_copy(name, image.format)
        response = _file_response(served, _content_type(name), f"{privacy}, max-age=86400")
    patch_vary_headers(response, ("Cookie", "Authorization"))
    return response


# A size asked for but not stored yet (an image indexed before sizes existed; `manage.py
# thumbnails` makes them) is answered with the thumbnail, cached briefly so the real one shows soon.
FALLBACK_MAX_AGE = 300


@require_GET
def thumbnail(request, pk: int):
    """The thumbnail, or with `?size=small|medium|preview` another size (ingestion/renditions.py).
    Every size is re-encoded from the pixels (ingestion/processing.py): none carries metadata."""
    size = request.GET.get("size", "")
    if size and size not in NAMES:
        return HttpResponseBadRequest(
            f"Unknown size {size[:40]!r}: ask for one of {', '.join(NAMES)}, or none for the thumbnail.",
            content_type="text/plain; charset=utf-8",
        )
    image = get_image_for_user(_viewer(request), pk)
    name = image.thumbnail.name
    if not name or not default_storage.exists(name):
        raise Http404("File not available.")
    privacy = "public" if image.shown_to_everyone else "private"
    max_age = 86400
    if size:
        sized = rendition_name(image.sha256, size)
        if default_storage.exists(sized):
            name = sized
        else:
            max_age = FALLBACK_MAX_AGE
    return _file_response(name, "image/webp", f"{privacy}, max-age={max_age}")
