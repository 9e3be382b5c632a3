"""The sizes an image is shown in besides its thumbnail (`thumbnail_url`, a 384 px box, unchanged):
a responsive set, the way Immich and Google Photos serve their grids and viewers.

- `small` and `medium`: for grid cells, which crop every image to a square (`object-fit: cover`),
  so what must be sharp is the *shorter* side: it is scaled to 256 and 512 px (the longer side
  follows, capped at MAX_RATIO times the shorter one, so a panorama stays a few kB).
- `preview`: for the image page and the full-screen view of formats browsers cannot show; its
  longer side is 1440 px.

Never upscaled: an image smaller than a size is kept at its own size. All are WebP made in the
worker from the pixels it has already decoded, named by content like the thumbnail
(ingestion/storage.py), served through the same permission checks (ingestion/media.py).

Pure arithmetic, no Django: the worker resizes with `target_size`, and the pages announce the same
sizes in `srcset` from the width and height stored on the row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rendition:
    name: str
    side: int
    fit: str  # "short": the shorter side is scaled to `side`; "long": the longer side
    quality: int
    # libwebp's effort, 0-6: 2 encodes a 1440 px preview in 0.065 s where 4 takes 0.15 s, for 5%
    # more bytes (the thumbnail, made since before, keeps 4).
    method: int = 2


MAX_RATIO = 3
RENDITIONS = (
    Rendition("preview", 1440, "long", 80),
    Rendition("medium", 512, "short", 82),
    Rendition("small", 256, "short", 82),
)  # largest first: each is made from the one before it
BY_NAME = {r.name: r for r in RENDITIONS}
NAMES = tuple(BY_NAME)

# The width a grid cell takes on the page (static/theme.css: 2 or 3 columns on phones, cells of
# 170 px and more on wider screens), for `sizes`.
GRID_SLOT = "(max-width: 640px) 50vw, 240px"


def target_size(width: int, height: int, rendition: Rendition) -> tuple[int, int]:
    """The size of `rendition` of a width x height image (as seen, after EXIF rotation)."""
    width, height = max(1, width), max(1, height)
    short, long = min(width, height), max(width, height)
    if rendition.fit == "long":
        scale = rendition.side / long
    else:
        scale = min(rendition.side / short, rendition.side * MAX_RATIO / long)
    scale = min(scale, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def grid_sizes(width: int, height: int, slot: str = GRID_SLOT) -> str:
    """`sizes` for a cell that crops to a square: a wide image is drawn wider than the cell, by
    its aspect ratio (a tall one exactly as wide)."""
    ratio = max(1.0, width / max(1, height))
    if ratio == 1.0:
        return slot
    parts = []
    for part in slot.split(","):
        *condition, length = part.strip().rsplit(" ", 1)
        parts.append(" ".join([*condition, f"calc({length} * {ratio:.3f})"]))
    return ", ".join(parts)
