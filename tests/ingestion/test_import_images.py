"""`manage.py import_images DIR`: nested folders, duplicates, rejects, clear errors."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from ingestion.models import Image
from tests.factories import draw_image, image_bytes, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    (tmp_path / "trip" / "day1").mkdir(parents=True)
    (tmp_path / "trip" / "day1" / "circle.PNG").write_bytes(image_bytes(draw_image("circle"), "PNG"))
    (tmp_path / "trip" / "square.jpg").write_bytes(image_bytes(draw_image("square"), "JPEG"))
    (tmp_path / "stripes.webp").write_bytes(image_bytes(draw_image("stripes"), "WEBP"))
    # The same picture under another name is imported once.
    (tmp_path / "trip" / "copy-of-circle.png").write_bytes(image_bytes(draw_image("circle"), "PNG"))
    (tmp_path / "broken.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "notes.txt").write_text("not looked at")
    return tmp_path


def run(*args, **opts) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_images", *args, stdout=out, stderr=err, verbosity=0, **opts)
    return out.getvalue(), err.getvalue()


def test_imports_nested_folders(photos: Path) -> None:
    owner = make_user("alice")
    out, err = run(str(photos), owner="alice", tags="Holiday, 2024", visibility="private")

    assert "Imported 3 image(s), skipped 1 duplicate(s), rejected 1." in out
    copy = Image.objects.get(original_filename="copy-of-circle.png")
    skipped = photos / "trip" / "day1" / "circle.PNG"
    assert f"  skipped {skipped}: circle.PNG is already in your library as #{copy.pk}." in out
    assert f"rejected {photos / 'broken.jpg'}: 'broken.jpg' is not an image Pillow can read." in err
    images = Image.objects.filter(owner=owner)
    # Files are taken in path order: the copy comes before day1/circle.PNG, which is skipped.
    assert sorted(i.title for i in images) == ["copy-of-circle", "square", "stripes"]
    assert {i.format for i in images} == {"PNG", "JPEG", "WEBP"}
    assert all(i.visibility == "private" and set(i.tag_names()) == {"holiday", "2024"} for i in images)
    assert all(i.status == Image.Status.PENDING for i in images)


def test_a_second_run_skips_what_the_owner_has(photos: Path) -> None:
    make_user("alice")
    run(str(photos), owner="alice")
    out, _ = run(str(photos), owner="alice")
    assert "Imported 0 image(s), skipped 4 duplicate(s), rejected 1." in out
    assert Image.objects.count() == 3

    # --allow-duplicates imports every file, copies included.
    out, _ = run(str(photos), owner="alice", allow_duplicates=True)
    assert "Imported 4 image(s), skipped 0 duplicate(s)" in out
    assert Image.objects.count() == 7
    # Another owner gets their own copies.
    make_user("bob")
    out, _ = run(str(photos), owner="bob")
    assert "Imported 3 image(s)" in out


def test_no_recursion_on_request(photos: Path) -> None:
    make_user("alice")
    out, _ = run(str(photos), owner="alice", no_recursive=True)
    assert "Imported 1 image(s), skipped 0 duplicate(s), rejected 1." in out
    assert list(Image.objects.values_list("original_filename", flat=True)) == ["stripes.webp"]


def test_missing_owner_is_a_clear_error(photos: Path) -> None:
    with pytest.raises(CommandError, match="No user 'ghost'. Pass --owner USERNAME, or --create-owner"):
        run(str(photos), owner="ghost")
    assert Image.objects.count() == 0

    out, _ = run(str(photos), owner="ghost", create_owner=True)
    assert "Created user 'ghost'" in out
    assert Image.objects.filter(owner=get_user_model().objects.get(username="ghost")).count() == 3


def test_not_a_directory(tmp_path: Path) -> None:
    make_user("alice")
    with pytest.raises(CommandError, match="is not a directory"):
        run(str(tmp_path / "nope"), owner="alice")
    file = tmp_path / "one.png"
    file.write_bytes(image_bytes(draw_image("circle"), "PNG"))
    with pytest.raises(CommandError, match=f"{file} is not a directory."):
        run(str(file), owner="alice")


def test_empty_folder_and_bad_tags(tmp_path: Path) -> None:
    make_user("alice")
    out, _ = run(str(tmp_path), owner="alice")
    assert f"No image files found in {tmp_path}." in out
    with pytest.raises(CommandError, match="is not allowed"):
        run(str(tmp_path), owner="alice", tags="ok, <bad>")
