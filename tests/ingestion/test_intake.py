"""One upload, one `Intake`, whatever the door: an exact copy the uploader already has (in the
library or in the trash) is refused by `services.create_image` itself, so the API (409 when
`allow_duplicate=false`), the upload page's plain form (a message, unless its box is ticked) and
`manage.py import_images` (skipped and listed) refuse the same copy the same way. The API's
default stores every upload, as the contract says."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from ingestion import services, trash
from ingestion.intake import DuplicateUpload, Intake, Source
from ingestion.models import Image
from tests.factories import api_client, draw_image, image_bytes, make_image, make_user, noise_png, signed_in
from webapp.celery import app as celery_app

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ingest_queue_purged")]


@pytest.fixture
def ingest_queue_purged():
    """The doors announce what they store: no indexing task may outlive the test's rows."""
    yield
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(settings.INGEST_QUEUE)


def import_dir(folder: Path, **opts) -> str:
    out = StringIO()
    opts = {"owner": "alice", "stdout": out, "stderr": StringIO(), "verbosity": 0, **opts}
    call_command("import_images", str(folder), **opts)
    return out.getvalue()


def upload_page(user, data: bytes, **fields):
    files = {"files": SimpleUploadedFile("again.png", data, "image/png")}
    return signed_in(user).post("/upload/", {**files, **fields}, follow=True)


def png_upload(kind: str, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(draw_image(kind), "PNG"), "image/png")


def test_exact_reupload_is_refused_only_when_asked(alice) -> None:
    client = api_client(alice)
    first = client.post("/api/images/", {"file": png_upload("circle", "a.png")}, format="multipart")
    assert first.status_code == 201 and {"id", "status"} <= set(first.json())

    again = client.post(
        "/api/images/",
        {"file": png_upload("circle", "b.png"), "allow_duplicate": "false"},
        format="multipart",
    )
    assert again.status_code == 409
    assert again.json() == {
        "error": f"b.png is already in your library as #{first.json()['id']}.",
        "duplicate_of": first.json()["id"],
        "duplicate_url": f"/images/{first.json()['id']}/",
    }
    anyway = client.post(
        "/api/images/", {"file": png_upload("circle", "b.png"), "allow_duplicate": "true"}, format="multipart"
    )
    assert anyway.status_code == 201
    plain = client.post("/api/images/", {"file": png_upload("circle", "c.png")}, format="multipart")
    assert plain.status_code == 201  # the contract's default: every upload is stored
    assert Image.objects.filter(owner=alice).count() == 3

    # Someone else's copy is not "in your library", and says nothing about theirs.
    bob = api_client(make_user("bob"))
    theirs = bob.post(
        "/api/images/",
        {"file": png_upload("circle", "d.png"), "allow_duplicate": "false"},
        format="multipart",
    )
    assert theirs.status_code == 201
    bad = client.post(
        "/api/images/",
        {"file": png_upload("square", "e.png"), "allow_duplicate": "maybe"},
        format="multipart",
    )
    assert bad.status_code == 400 and "allow_duplicate" in bad.json()["error"]


@pytest.mark.parametrize("where", ["library", "trash"])
def test_every_door_refuses_the_same_copy_by_the_same_rule(alice, tmp_path, where) -> None:
    data = noise_png(11)
    kept = make_image(alice, data=data, title="kept")
    if where == "trash":
        assert trash.move_to_trash([kept], alice) == [kept.pk]
    before = Image.all_objects.count()

    # The service: the refusal names the image and where it is.
    with pytest.raises(DuplicateUpload) as refused:
        services.create_image(Intake(owner=alice, data=data, source=Source.SCRIPT, filename="again.png"))
    refusal = refused.value
    assert (refusal.existing_id, refusal.in_trash) == (kept.pk, where == "trash")

    # The API: the same refusal as a 409, its fields as before.
    api = api_client(alice).post(
        "/api/images/",
        {"file": SimpleUploadedFile("again.png", data), "allow_duplicate": "false"},
        format="multipart",
    )
    assert api.status_code == 409
    assert api.json() == {"error": str(refusal), **refusal.extra}
    assert api.json()["duplicate_of"] == kept.pk and api.json().get("in_trash", False) is (where == "trash")

    # The upload page without JavaScript: back on the page, which says why and what to do.
    page = upload_page(alice, data)
    assert page.redirect_chain == [("/upload/", 302)]
    html = page.content.decode()
    said = "is in your trash as" if where == "trash" else "is already in your library as"
    assert f"again.png {said} #{kept.pk}" in html
    assert "Upload even if I already have it" in html  # the way to store it anyway, on the page

    # The import: skipped, counted and named.
    (tmp_path / "again.png").write_bytes(data)
    out = import_dir(tmp_path)
    assert "Imported 0 image(s), skipped 1 duplicate(s), rejected 0." in out
    assert f"  skipped {tmp_path / 'again.png'}: {refusal}" in out

    assert Image.all_objects.count() == before


def test_every_door_stores_the_copy_when_asked(alice, tmp_path) -> None:
    data = noise_png(12)
    make_image(alice, data=data)
    api = api_client(alice).post(
        "/api/images/",
        {"file": SimpleUploadedFile("again.png", data), "allow_duplicate": "true"},
        format="multipart",
    )
    assert api.status_code == 201
    page = upload_page(alice, data, allow_duplicate="true")  # the box ticked
    assert page.redirect_chain == [("/?owner=me", 302)]
    assert "Uploaded 1 image" in page.content.decode()
    (tmp_path / "again.png").write_bytes(data)
    assert "Imported 1 image(s), skipped 0 duplicate(s)" in import_dir(tmp_path, allow_duplicates=True)
    assert Image.objects.filter(owner=alice, sha256=Image.objects.first().sha256).count() == 4


def test_the_page_refuses_a_copy_and_keeps_the_other_files(alice) -> None:
    """Several files in one post: the copy is refused by name, the new one stored."""
    data = noise_png(13)
    make_image(alice, data=data)
    files = [SimpleUploadedFile("again.png", data), SimpleUploadedFile("new.png", noise_png(14))]
    page = signed_in(alice).post("/upload/", {"files": files}, follow=True)
    html = page.content.decode()
    assert "again.png is already in your library" in html and "Uploaded 1 image" in html
    assert sorted(Image.objects.values_list("original_filename", flat=True)) == ["circle.png", "new.png"]


def test_the_page_box_takes_only_a_clear_answer(alice) -> None:
    page = upload_page(alice, noise_png(15), allow_duplicate="maybe")
    assert page.redirect_chain == [("/upload/", 302)]
    assert "allow_duplicate" in page.content.decode()
    assert not Image.objects.exists()


def test_someone_elses_copy_is_not_refused_on_the_page(alice) -> None:
    data = noise_png(16)
    make_image(alice, data=data)
    bob = make_user("bob")
    page = upload_page(bob, data)
    assert "Uploaded 1 image" in page.content.decode()
    assert Image.objects.filter(owner=bob).count() == 1


def test_a_refused_copy_is_never_decoded(alice, monkeypatch) -> None:
    """The refusal is the first step: a copy costs a hash and a query, no pixels."""
    data = noise_png(17)
    make_image(alice, data=data)

    def decode(*args, **kwargs):
        raise AssertionError("a refused copy was decoded")

    monkeypatch.setattr(services, "validate_image_bytes", decode)
    with pytest.raises(DuplicateUpload):
        services.create_image(Intake(owner=alice, data=data, source=Source.API))
    with pytest.raises(AssertionError):  # control: allowed, the same bytes are decoded
        services.create_image(Intake(owner=alice, data=data, source=Source.API, allow_duplicate=True))


def test_a_copy_committed_while_the_upload_was_decoded_is_refused(alice, monkeypatch) -> None:
    """Two posts of the same file at once: both pass the first check; the second, under the
    content's lock, sees the first's row and is refused."""
    data = noise_png(18)
    real_decode = services.validate_image_bytes

    def decode_while_the_other_post_commits(*args, **kwargs):
        monkeypatch.setattr(services, "validate_image_bytes", real_decode)
        make_image(alice, data=data)  # the other post, committed meanwhile
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(services, "validate_image_bytes", decode_while_the_other_post_commits)
    with pytest.raises(DuplicateUpload):
        services.create_image(Intake(owner=alice, data=data, source=Source.PAGE, filename="twice.png"))
    assert Image.objects.filter(owner=alice).count() == 1


def test_an_intake_is_typed_and_immutable(alice) -> None:
    intake = Intake(owner=alice, data=b"x", source=Source.PAGE, tags=["a", "b"])
    assert intake.tags == ("a", "b") and intake.allow_duplicate is False
    with pytest.raises(AttributeError):
        intake.allow_duplicate = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        Intake(alice, b"x", Source.PAGE)  # type: ignore[misc]  keywords only
