"""The gallery's justified rows (as Google Photos and Immich lay out a library): every picture keeps
its aspect ratio, each row is as high as its neighbours would let it be, rows fill the width and the
last one is not stretched. Pure CSS, so it works without JavaScript and follows every resize: each
tile is a flex item that starts `ratio x row height` wide and grows in proportion to its ratio
(`flex-grow: ratio`), so all tiles of a row grow to one common height (`aspect-ratio: ratio`).

The page's style policy allows no style attributes, so the ratio reaches the stylesheet as a class:
`ar-<ratio x 100>`, one rule each in static/justified.css (made by `stylesheet()`; a test keeps the
file in step). Ratios are clamped to [MIN_RATIO, MAX_RATIO]; beyond that the picture is cropped to
the tile (`object-fit: cover`), as Google Photos crops panoramas in its grid."""

from __future__ import annotations

MIN_RATIO = 0.25
MAX_RATIO = 4.0
STEPS = 100  # ratios in hundredths: at most 2% off at the narrowest, 0.25% off at 2:1

# Row heights of static/gallery.css (--row): phones, then wider screens. `sizes` names the width
# a tile will take from them.
ROW_PHONE_PX = 120
ROW_PX = 220
PHONE_MAX_WIDTH = 640


def ratio_steps(width: int, height: int) -> int:
    """The picture's width / height in hundredths, clamped."""
    ratio = max(1, width) / max(1, height)
    return round(min(MAX_RATIO, max(MIN_RATIO, ratio)) * STEPS)


def ratio_class(width: int, height: int) -> str:
    return f"ar-{ratio_steps(width, height)}"


def tile_sizes(width: int, height: int) -> str:
    """`sizes` for a tile: its row height times its ratio (rows grow a little past it to fill)."""
    ratio = ratio_steps(width, height) / STEPS
    return (
        f"(max-width: {PHONE_MAX_WIDTH}px) calc({ROW_PHONE_PX}px * {ratio:g}), calc({ROW_PX}px * {ratio:g})"
    )


def stylesheet() -> str:
    """static/justified.css: one custom property per ratio class."""
    low, high = round(MIN_RATIO * STEPS), round(MAX_RATIO * STEPS)
    rules = [f".ar-{n}{{--r:{n / STEPS:g}}}" for n in range(low, high + 1)]
    header = "/* Made by ingestion/justified.py stylesheet(): the aspect ratio of each gallery tile. */\n"
    return header + "\n".join(rules) + "\n"


if __name__ == "__main__":  # python -m ingestion.justified > static/justified.css
    print(stylesheet(), end="")
