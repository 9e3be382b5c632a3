"""Search by a region of a stored image (`?similar=<id>&region=x,y,w,h`, page and API): the server
crops the stored original, so nothing is uploaded again, and the crop goes to the query worker
exactly as an example image does (`queries.embed_image`: same reduction, same limits, same
timeout). Coordinates are fractions (0..1) of the picture as it is seen (EXIF orientation applied),
the frame the page draws the box on. Crops are made per request and never stored."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from django.conf import settings
from PIL import Image as PILImage

from ingestion.models import Image
from ingestion.processing import DECODE_MAX_SIDE, decode
from ingestion.storage import read_file

from . import queries
from .queries import BadQuery
from .service import Result, SearchParams, run_search, similar_to

# A box smaller than this (per side, as a fraction of the picture and in its own pixels) holds too
# little for the model to say anything about; the page's box cannot be made smaller either.
MIN_FRACTION = 0.02
MIN_PIXELS = 16
# The crop's longer side the decode aims for: the model looks at 224 px, twice that is plenty.
CROP_TARGET_SIDE = 448
MAX_REGION_CHARS = 100
# Rounding in a browser's pointer arithmetic may overshoot an edge by a hair.
EDGE_SLACK = 1e-6

FORMAT_HELP = (
    "region must be four numbers x,y,w,h: the box's left and top edges and its width and height as "
    "fractions (0 to 1) of the picture's width and height, e.g. region=0.25,0.25,0.5,0.5."
)


@dataclass(frozen=True)
class Region:
    x: float
    y: float
    w: float
    h: float

    def __str__(self) -> str:
        return ",".join(f"{v:.4f}".rstrip("0").rstrip(".") or "0" for v in (self.x, self.y, self.w, self.h))

    def pixel_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in a width x height picture, at least one pixel each way."""
        left = min(width - 1, math.floor(self.x * width))
        top = min(height - 1, math.floor(self.y * height))
        right = max(left + 1, min(width, math.ceil((self.x + self.w) * width)))
        bottom = max(top + 1, min(height, math.ceil((self.y + self.h) * height)))
        return left, top, right, bottom


def parse_region(raw: str | None) -> Region | None:
    """The `region` parameter, or None when absent; BadQuery (400) saying what is wrong otherwise."""
    if raw is None:
        return None
    if len(raw) > MAX_REGION_CHARS:
        raise BadQuery(FORMAT_HELP)
    parts = raw.split(",")
    if len(parts) != 4:
        raise BadQuery(FORMAT_HELP)
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        raise BadQuery(FORMAT_HELP) from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise BadQuery(FORMAT_HELP)
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 and 0 < h <= 1):
        raise BadQuery(f"region {raw}: x and y must be from 0 to below 1, w and h above 0 up to 1.")
    if x + w > 1 + EDGE_SLACK or y + h > 1 + EDGE_SLACK:
        raise BadQuery(f"region {raw} reaches outside the picture: x + w and y + h must be at most 1.")
    if w < MIN_FRACTION or h < MIN_FRACTION:
        raise BadQuery(
            f"region {raw} is too small: each side must be at least {MIN_FRACTION:g} of the picture."
        )
    return Region(x, y, min(w, 1 - x), min(h, 1 - y))


def check_pixels(image: Image, region: Region) -> None:
    """Refuse a box that covers fewer than MIN_PIXELS of the image's own pixels each way."""
    if region.w * image.width < MIN_PIXELS or region.h * image.height < MIN_PIXELS:
        raise BadQuery(
            f"region {region} is too small for this {image.width}x{image.height} picture: each side "
            f"must cover at least {MIN_PIXELS} of its pixels."
        )


def decode_side(region: Region) -> int:
    """How large to decode the picture so the crop's longer side nears CROP_TARGET_SIDE, within
    the decode bound every other reader of originals keeps (JPEGs then decode at a reduced scale)."""
    wanted = math.ceil(CROP_TARGET_SIDE / max(region.w, region.h))
    return max(CROP_TARGET_SIDE, min(DECODE_MAX_SIDE, wanted))


def crop(image: Image, region: Region) -> bytes:
    """The region of the stored original as the bytes the query worker gets (PNG, at most
    QUERY_IMAGE_SIDE), decoded with the bounded decode (one of HEAVY_DECODES_PER_PROCESS slots for
    a huge picture) and kept in memory only."""
    if not image.original.name:
        raise BadQuery("This image's file is not available.")
    try:
        data = read_file(image.original.name)
    except FileNotFoundError:
        raise BadQuery("This image's file is not available.") from None
    picture = decode(data, max_side=decode_side(region))
    part = picture.crop(region.pixel_box(*picture.size))
    picture.close()
    side = settings.QUERY_IMAGE_SIDE
    if max(part.size) > side:
        part.thumbnail((side, side), PILImage.Resampling.BICUBIC)
    out = io.BytesIO()
    part.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def similar_to_region(image: Image, region: Region, user, params: SearchParams) -> tuple[list[Result], str]:
    """Images like the part of `image` inside `region`, and the model that embedded the crop.
    `image` must come from an access check (`access.get_image_for_user`); the source itself is
    left out, as with similar images."""
    check_pixels(image, region)
    vector = queries.embed_image(crop(image, region))
    params = params.excluding([image.pk])
    return run_search(vector, user, params), vector.model_id


def requested_region(data, similar: int | None) -> Region | None:
    """The search page's `region`, which only means something with `similar=<id>`."""
    region = parse_region(data.get("region"))
    if region is not None and not similar:
        raise BadQuery("region needs similar=<image id>: the image whose part to search by.")
    return region


def similar_results(image: Image, region: Region | None, user, params: SearchParams) -> list[Result]:
    """The search page's `?similar=<id>`: neighbours of the whole image, or of a region of it."""
    if region is None:
        return similar_to(image, user, params)
    return similar_to_region(image, region, user, params)[0]
