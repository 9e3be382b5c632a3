"""An exact re-upload: refused with a 409 naming the existing image when the caller asks
(`allow_duplicate=false`, as the upload page does), stored by default as the contract says."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingestion.models import Image
from tests.factories import api_client, draw_image, image_bytes, make_user

pytestmark = pytest.mark.django_db


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
