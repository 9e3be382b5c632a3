"""PDQ variants (ingestion.processing): dihedral hashes, border trimming, central and off-centre crops."""

from __future__ import annotations

import pytest
from PIL import Image, ImageOps

from bench.images import border, central_crop, photo
from ingestion.processing import DIHEDRAL_KINDS, compute_pdq, pdq_variants, trim_borders


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def by_kind(image: Image.Image) -> dict[str, str]:
    return {v.kind: v.pdq_hash for v in pdq_variants(image)}


def test_the_plain_variant_is_the_images_own_hash_and_all_eight_dihedral_kinds_are_there():
    image = photo(1, (320, 240))
    kinds = by_kind(image)
    assert kinds["plain"] == compute_pdq(image)[0]
    assert set(DIHEDRAL_KINDS) <= set(kinds)


@pytest.mark.parametrize(
    ("edit", "kind"),
    [(ImageOps.mirror, "mirror"), (ImageOps.flip, "flip"), (lambda im: im.rotate(90, expand=True), "rot90")],
)
def test_a_flipped_or_turned_copy_hashes_like_the_matching_dihedral_variant(edit, kind):
    image = photo(2, (320, 240))
    copy_hash = compute_pdq(edit(image))[0]
    assert distance(copy_hash, by_kind(image)[kind]) <= 24  # well inside the match distance (31)
    assert distance(copy_hash, by_kind(image)["plain"]) > 60  # the plain hash alone misses it


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (30, 120, 200)])
def test_uniform_borders_are_trimmed_and_the_trimmed_hash_meets_the_original(colour):
    image = photo(3, (320, 240))
    framed = border(image, 0.05, colour)
    trimmed = trim_borders(framed)
    assert trimmed is not None
    assert abs(trimmed.width - 320) <= 2 and abs(trimmed.height - 240) <= 2
    assert distance(by_kind(framed)["trim"], compute_pdq(image)[0]) <= 10


def test_letterboxing_only_top_and_bottom_is_trimmed():
    image = photo(4, (320, 180))
    boxed = Image.new("RGB", (320, 240), (0, 0, 0))
    boxed.paste(image, (0, 30))
    trimmed = trim_borders(boxed)
    assert trimmed is not None and trimmed.size == (320, 180)


def test_a_picture_without_borders_is_not_trimmed():
    assert trim_borders(photo(5, (320, 240))) is None
    assert "trim" not in by_kind(photo(5, (320, 240)))


def test_a_flat_image_is_not_trimmed_to_nothing():
    assert trim_borders(Image.new("RGB", (100, 80), (10, 10, 10))) is None


def test_a_central_crop_meets_the_originals_crop_variant_and_not_its_plain_hash():
    image = photo(6, (640, 480))
    cropped = compute_pdq(central_crop(image, 0.10))[0]
    kinds = by_kind(image)
    assert distance(cropped, kinds["crop90"]) <= 10
    assert distance(cropped, kinds["plain"]) > 31


def test_distinct_photos_are_far_apart_in_every_variant():
    a, b = by_kind(photo(7)), by_kind(photo(8))
    closest = min(distance(x, y) for x in a.values() for y in b.values())
    assert closest > 60


@pytest.mark.parametrize(
    ("box", "kind"),
    [
        ((0, 0, 576, 432), "crop90-tl"),  # a corner crop
        ((64, 48, 640, 480), "crop90-br"),
        ((0, 0, 640, 432), "cut10-bottom"),  # a caption strip cut off
        ((64, 0, 640, 480), "cut10-left"),
    ],
)
def test_an_off_centre_crop_meets_the_matching_stored_variant(box, kind):
    original = photo(1000)  # no border to trim: the crops are of the picture as it is
    stored = by_kind(original)
    cropped, _ = compute_pdq(original.crop(box))
    assert distance(cropped, stored[kind]) <= 31
    assert min(distance(cropped, stored[k]) for k in ("plain", "crop90", "crop80", "crop75")) > 31
