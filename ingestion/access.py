"""Who may see and change an image: the one access check for pages, API and media."""

from __future__ import annotations

from django.http import Http404

from core.errors import Forbidden
from core.forms import MAX_ID

from .models import Image

MODERATORS_GROUP = "moderators"


def is_moderator(user) -> bool:
    """Members of the `moderators` group, and superusers (the answer is kept on the user object
    for the rest of the request)."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_is_moderator", None)
    if cached is None:
        cached = user.groups.filter(name=MODERATORS_GROUP).exists()
        user._is_moderator = cached
    return cached


def visible_images(user):
    """Images `user` may open one by one (page, files, API detail, `image:ID`), with owner and
    tags fetched up front. Moderators also see hidden public images; nobody sees others' private
    ones here (moderators review those only through `moderation.media`)."""
    return (
        Image.objects.visible_to(user, moderator=is_moderator(user))
        .select_related("owner")
        .prefetch_related("tags")
    )


def listed_images(user, *, hidden: bool = False):
    """Images listings show `user` (gallery, API list, search, neighbours): what everyone sees plus
    their own, whatever their role; `hidden` lists withheld ones instead (see
    `ImageQuerySet.listed_for`)."""
    return (
        Image.objects.listed_for(user, moderator=is_moderator(user), hidden=hidden)
        .select_related("owner")
        .prefetch_related("tags")
    )


def get_image_for_user(user, pk: int, *, write: bool = False, action: str = "change") -> Image:
    """The image, or 404 when `user` may not see it (others' private images are not confirmed to
    exist); with `write`, 403 unless `user` may change it."""
    image = visible_images(user).filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if image is None:
        raise Http404("No such image.")
    if write and not image.editable_by(user):
        raise Forbidden(f"Only the owner can {action} this image.")
    return image
