"""The gallery tile's aspect-ratio class and `sizes` (ingestion/justified.py)."""

from __future__ import annotations

from django import template

from ingestion import justified

register = template.Library()


@register.filter
def tile_class(image) -> str:
    return justified.ratio_class(image.width, image.height)


@register.filter
def tile_sizes(image) -> str:
    return justified.tile_sizes(image.width, image.height)
