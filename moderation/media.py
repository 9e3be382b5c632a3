"""Moderators review what is in their queue, private uploads included: while an image is a member
of an OPEN moderation group, moderators get its thumbnail and its original (the sanitised copy
others get: no location, serial numbers or owner name) through these URLs, and each opening of
someone else's private image is written to the audit log. Once the group is resolved these URLs
answer 404. Everywhere else the app's rule holds: private means private, to staff too. A 404 does
not say whether an image exists. A ban entry's own thumbnail (its copy, taken when it was banned)
is served to moderators at /moderation/bans/<id>/thumbnail/, never from the source image."""

from __future__ import annotations

import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from core.errors import Forbidden
from core.forms import MAX_ID
from ingestion.access import is_moderator
from ingestion.metadata import public_copy
from ingestion.models import Image

from . import audit
from .models import BanEntry, Group, GroupMember
from .permissions import NOT_MODERATOR


def _moderator(request):
    """Session for pages; an API token for clients following the group JSON's URLs."""
    user = request.user
    if not user.is_authenticated:
        try:
            found = TokenAuthentication().authenticate(request)
        except AuthenticationFailed:
            found = None
        user = found[0] if found else user
    if not is_moderator(user):
        raise Forbidden(NOT_MODERATOR)
    return user


def under_review(request, pk: int, what: str) -> Image:
    moderator = _moderator(request)
    in_queue = (
        GroupMember.objects.filter(image_id=pk, group__status=Group.Status.OPEN).exists()
        if 0 < pk <= MAX_ID
        else False
    )
    image = Image.objects.filter(pk=pk).first() if in_queue else None
    if image is None:
        raise Http404("No such image in the moderation queue.")
    if not image.visible_to(moderator, moderator=True):
        audit.record(moderator, "view_private", f"image {pk}", f"{what}, owner {image.owner_id}")
    return image


def _serve(name: str, content_type: str) -> FileResponse:
    if not name or not default_storage.exists(name):
        raise Http404("File not available.")
    response = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
    # Moderators only: never in a shared cache.
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    patch_vary_headers(response, ("Cookie", "Authorization"))
    return response


@require_GET
def thumbnail(request, pk: int):
    return _serve(under_review(request, pk, "thumbnail").thumbnail.name, "image/webp")


@require_GET
def original(request, pk: int):
    image = under_review(request, pk, "original")
    name = image.original.name
    if not name or not default_storage.exists(name):
        raise Http404("File not available.")
    return _serve(
        public_copy(name, image.format), mimetypes.guess_type(name)[0] or "application/octet-stream"
    )


@require_GET
def ban_thumbnail(request, pk: int):
    """A ban entry's own thumbnail, taken when it was banned: moderators only, whatever became of
    the source image (private, deleted), so a match can be judged side by side."""
    _moderator(request)
    entry = BanEntry.objects.filter(pk=pk).only("thumbnail").first() if 0 < pk <= MAX_ID else None
    if entry is None:
        raise Http404("No such ban entry.")
    return _serve(entry.thumbnail, "image/webp")
