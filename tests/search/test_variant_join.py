"""The whole-collection self-join of variant hashes (what `find_duplicates` scans), on rows built
directly: turns and flips meet stored variants, weak and unindexed hashes stay out."""

from __future__ import annotations

import numpy as np
import pytest

from ingestion.models import Image
from search.models import HashVariant
from search.query.variant_join import near_pairs
from tests.factories import make_image

pytestmark = pytest.mark.django_db

RNG = np.random.default_rng(7)


def random_hash() -> str:
    return RNG.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def near(hex_hash: str, bits: int) -> str:
    unpacked = np.unpackbits(np.frombuffer(bytes.fromhex(hex_hash), dtype=np.uint8))
    unpacked[RNG.choice(256, bits, replace=False)] ^= 1
    return np.packbits(unpacked).tobytes().hex()


def indexed_image(owner, hashes: dict[str, str], *, quality: int = 100, status=Image.Status.INDEXED) -> Image:
    image = make_image(owner, color=tuple(int(c) for c in RNG.integers(0, 255, 3)))
    Image.objects.filter(pk=image.pk).update(status=status)
    filled = {kind: random_hash() for kind in ("plain", "trim", "crop90", "rot90", "mirror", "flip")}
    filled.update(hashes)
    HashVariant.objects.bulk_create(
        HashVariant(image=image, kind=kind, pdq_hash=value, quality=quality) for kind, value in filled.items()
    )
    return image


def test_a_mirrored_copy_meets_its_original_and_strangers_do_not(alice):
    plain = random_hash()
    original = indexed_image(alice, {"plain": plain})
    mirrored = indexed_image(alice, {"mirror": near(plain, 12)})
    indexed_image(alice, {"plain": near(plain, 40)})  # too far
    stranger = indexed_image(alice, {})
    pairs = near_pairs(31, min_quality=50)
    key = (original.pk, mirrored.pk)
    assert set(pairs) == {key}
    assert pairs[key].distance == 12 and pairs[key].variant == "mirror~plain"
    assert stranger.pk not in {i for pair in pairs for i in pair}


def test_a_copy_of_a_crop_meets_the_stored_crop_and_reports_the_closest_pair(alice):
    crop = random_hash()
    original = indexed_image(alice, {"crop90": crop})
    copy = indexed_image(alice, {"plain": near(crop, 20), "rot90": near(crop, 5)})
    (pair,) = near_pairs(31, min_quality=50).values()
    assert (pair.a, pair.b, pair.distance, pair.variant) == (original.pk, copy.pk, 5, "rot90~crop90")


def test_weak_and_unindexed_hashes_never_link(alice):
    plain = random_hash()
    indexed_image(alice, {"plain": plain})
    indexed_image(alice, {"plain": near(plain, 3)}, quality=20)
    indexed_image(alice, {"plain": near(plain, 3)}, status=Image.Status.PENDING)
    assert near_pairs(31, min_quality=50) == {}


def test_each_image_keeps_its_nearest_partners_and_reports_progress(alice):
    plain = random_hash()
    images = [indexed_image(alice, {"plain": near(plain, 2)}) for _ in range(6)]
    seen = []
    pairs = near_pairs(31, min_quality=50, limit=2, progress=seen.append)
    assert sum(seen) == len(images)
    partners = {i.pk: {b if a == i.pk else a for a, b in pairs if i.pk in (a, b)} for i in images}
    # Each image keeps its 2 nearest as a query; being chosen by others can add more, never none.
    assert all(len(found) >= 2 for found in partners.values())
    assert len(pairs) < 15  # all 15 pairs would be linked without the limit


def test_query_chunks_smaller_than_an_image_find_the_same_pairs(alice, monkeypatch):
    from search.query import variant_join

    plain = random_hash()
    a = indexed_image(alice, {"plain": plain})
    b = indexed_image(alice, {"transverse": near(plain, 4)})
    c = indexed_image(alice, {"plain": near(plain, 25)})
    whole = near_pairs(31, min_quality=50)
    monkeypatch.setattr(variant_join, "QUERY_CHUNK", 3)  # fewer than one image's query hashes
    assert near_pairs(31, min_quality=50) == whole
    assert set(whole) == {(a.pk, b.pk), (a.pk, c.pk), (b.pk, c.pk)}
