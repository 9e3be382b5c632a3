"""Near-duplicate detection at indexing time through the real pipeline (Milvus included): links
with their tier, groups as connected components, "not a duplicate" surviving a rescan."""

from __future__ import annotations

import pytest
from PIL import Image, ImageOps

from bench.images import border, encode, photo
from moderation import detection
from moderation.models import Group, Link
from search import index as search_index
from search import variants
from tests.factories import plain_hash

from .conftest import jpeg

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


def open_groups(kind=Group.Kind.DUPLICATE):
    return list(Group.objects.filter(kind=kind, status=Group.Status.OPEN))


def members(group: Group) -> set[int]:
    return set(group.members.values_list("image_id", flat=True))


def test_resized_reencoded_bordered_and_mirrored_copies_form_one_group(alice, moderator, upload):
    original = photo(11)
    first = upload(alice, encode(original))
    copies = [
        upload(moderator, encode(original.resize((320, 240)))),
        upload(alice, encode(original, quality=30)),
        upload(alice, encode(border(original, 0.05))),
        upload(moderator, encode(ImageOps.mirror(original))),
    ]
    unrelated = upload(alice, jpeg(12))
    groups = open_groups()
    assert len(groups) == 1
    assert members(groups[0]) == {first.pk, *(c.pk for c in copies)}
    assert groups[0].size == 5
    mirror_link = Link.objects.get(a=first, b=copies[3])
    assert mirror_link.kind == Link.Kind.PDQ and mirror_link.pdq_distance <= 31
    assert "mirror" in mirror_link.variant
    assert not Link.objects.filter(a=unrelated).exists() and not Link.objects.filter(b=unrelated).exists()


def test_the_same_bytes_link_as_exact(alice, moderator, upload):
    data = jpeg(13)
    a, b = upload(alice, data), upload(moderator, data)
    link = Link.objects.get(a=a, b=b)
    assert link.kind == Link.Kind.EXACT and link.pdq_distance == 0


def test_a_central_crop_is_linked(alice, upload):
    original = photo(14)
    a = upload(alice, encode(original))
    b = upload(alice, encode(original.crop((32, 24, 608, 456))))  # 10% off, centred
    assert Link.objects.filter(a=a, b=b, kind=Link.Kind.PDQ).exists()


def test_weak_hashes_never_link(alice, upload):
    flat = Image.new("RGB", (200, 150), (120, 120, 120))
    a = upload(alice, encode(flat))
    b = upload(alice, encode(flat, quality=50))
    assert plain_hash(a).quality < 50
    assert not Link.objects.filter(a=a, b=b, kind=Link.Kind.PDQ).exists()


def test_groups_merge_when_a_new_image_links_two_groups(alice, upload):
    original = photo(15)
    a = upload(alice, encode(original))
    Link.objects.all().delete()
    Group.objects.all().delete()
    b = upload(alice, encode(original.resize((400, 300))))
    group_ab = open_groups()[0]
    # A second pair that joins the first through a new copy.
    detection.join(b.pk, a.pk)
    assert members(group_ab) == {a.pk, b.pk}
    c = upload(alice, encode(original, quality=40))
    groups = open_groups()
    assert len(groups) == 1 and members(groups[0]) == {a.pk, b.pk, c.pk}


def test_not_a_duplicate_survives_a_rescan(alice, moderator, upload):
    from moderation import review

    original = photo(16)
    a = upload(alice, encode(original))
    b = upload(alice, encode(original.resize((300, 225))))
    group = open_groups()[0]
    review.dismiss(moderator, group, "different photos")
    assert Link.objects.get(a=a, b=b).state == Link.State.DISMISSED
    detection.check_images([a.pk, b.pk])  # the rescan's check
    assert open_groups() == []
    assert Link.objects.get(a=a, b=b).state == Link.State.DISMISSED


def test_deleting_an_image_removes_its_variant_rows(alice, upload, django_capture_on_commit_callbacks):
    image = upload(alice, jpeg(17))
    ids = set(variants.all_row_ids(image.pk))
    assert ids & search_index.variant_store().ids()
    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert not ids & search_index.variant_store().ids()


def test_find_duplicates_rescans_everything_and_keeps_dismissals(alice, moderator, upload):
    from django.core.management import call_command

    from moderation import review

    original = photo(18)
    a = upload(alice, encode(original))
    b = upload(alice, encode(original.crop((32, 24, 608, 456))))  # a central 10% crop
    c = upload(alice, encode(border(original, 0.05, (255, 255, 255))))
    d = upload(alice, encode(photo(19)))
    e = upload(alice, encode(photo(19).resize((320, 240))))
    review.dismiss(moderator, Group.objects.get(members__image=d), "")
    Link.objects.exclude(state=Link.State.DISMISSED).delete()
    Group.objects.filter(status=Group.Status.OPEN).delete()
    call_command("find_duplicates", "--quiet")
    groups = open_groups()
    assert [members(g) for g in groups] == [{a.pk, b.pk, c.pk}]
    assert Link.objects.get(a=d, b=e).state == Link.State.DISMISSED
