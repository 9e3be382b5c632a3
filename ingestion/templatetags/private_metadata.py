"""Metadata only the owner may see, for the image page."""

from __future__ import annotations

from django import template
from django.core.files.storage import default_storage

from ingestion.metadata import Location, read_location
from ingestion.models import Image

register = template.Library()


@register.simple_tag(takes_context=True)
def owner_location(context, image: Image) -> Location | None:
    """Where the photo was taken, for its owner only (everyone else gets the file without it)."""
    user = getattr(context.get("request"), "user", None)
    if not (user and user.is_authenticated and user.pk == image.owner_id and image.original.name):
        return None
    try:
        with default_storage.open(image.original.name, "rb") as fh:
            return read_location(fh)
    except OSError:
        return None
