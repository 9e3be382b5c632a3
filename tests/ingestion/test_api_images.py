"""Images API: upload, list with filters, visibility, edit and delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from ingestion.models import Image
from search.engines.vector_store import SearchFilter
from search.index import embedding_store
from tests.factories import (
    api_client,
    draw_image,
    image_bytes,
    index,
    make_image,
    make_user,
    model_of,
    vector_of,
)

pytestmark = pytest.mark.django_db

CONTRACT_FIELDS = {
    "id",
    "status",
    "title",
    "tags",
    "owner",
    "visibility",
    "created_at",
    "url",
    "thumbnail_url",
    "width",
    "height",
    "sha256",
}


def png_upload(kind: str = "circle", name: str = "") -> SimpleUploadedFile:
    return SimpleUploadedFile(name or f"{kind}.png", image_bytes(draw_image(kind), "PNG"), "image/png")


def post(client: APIClient, **fields):
    return client.post("/api/images/", fields, format="multipart")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def api(alice) -> APIClient:
    return api_client(alice)


# ---------------------------------------------------------------------------- upload


def test_upload_needs_authentication() -> None:
    response = post(APIClient(), file=png_upload())
    assert response.status_code == 401
    assert "error" in response.json()
    assert Image.objects.count() == 0


def test_upload_creates_a_pending_image(api, alice) -> None:
    response = post(api, file=png_upload("square"), title=" My square ", tags="Red, shapes ,red")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= CONTRACT_FIELDS
    assert body["status"] == "pending"
    assert body["title"] == "My square"
    assert body["tags"] == ["red", "shapes"]
    assert body["owner"] == "alice"
    assert body["visibility"] == "public"
    assert (body["width"], body["height"]) == (320, 240)
    assert body["thumbnail_url"] is None
    assert body["url"] == f"http://testserver/media/images/{body['id']}/original"
    image = Image.objects.get(pk=body["id"])
    assert image.owner == alice and image.sha256 == body["sha256"]
    assert default_storage.exists(image.original.name)


def test_upload_tags_as_repeated_fields_and_private(api) -> None:
    response = post(api, file=png_upload(), tags=["beach", "Sea side"], visibility="private")
    assert response.status_code == 201, response.content
    assert response.json()["tags"] == ["beach", "sea side"]
    assert response.json()["visibility"] == "private"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "multipart form field named 'file'"),
        ({"file": SimpleUploadedFile("notes.txt", b"hello, world", "text/plain")}, "not an image"),
        ({"file": png_upload(), "visibility": "friends"}, "visibility must be 'public' or 'private'"),
        ({"file": png_upload(), "tags": "ok, <script>"}, "Tag '<script>' is not allowed"),
    ],
)
def test_bad_uploads_are_400_with_a_message(api, fields: dict, message: str) -> None:
    response = post(api, **fields)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert Image.objects.count() == 0


def test_an_oversized_body_is_refused_before_it_is_read(api, settings) -> None:
    settings.MAX_UPLOAD_BYTES = 1000
    response = api.post(
        "/api/images/",
        {"file": SimpleUploadedFile("big.png", b"x" * (1024 * 1024 + 2000), "image/png")},
        format="multipart",
    )
    assert response.status_code == 413
    assert "The upload is too large" in response.json()["error"]
    assert Image.objects.count() == 0


# ---------------------------------------------------------------------------- list and detail


def test_list_is_paginated_newest_first(api, alice) -> None:
    first = make_image(alice, created_at=datetime(2024, 1, 1, tzinfo=UTC))
    # 51 more rows sharing the stored original, one day apart: the page size is 50.
    copies = []
    for day in range(1, 52):
        first.pk, first.id = None, None
        first._state.adding = True
        first.created_at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day)
        first.save()
        copies.append(first.pk)

    page1 = api.get("/api/images/").json()
    assert page1["count"] == 52 and page1["previous"] is None and page1["next"]
    assert [r["id"] for r in page1["results"]] == copies[::-1][:50]
    page2 = api.get("/api/images/", {"page": 2}).json()
    assert len(page2["results"]) == 2 and page2["next"] is None
    assert api.get("/api/images/", {"page": 3}).status_code == 404


def test_list_filters(api, alice) -> None:
    bob = make_user("bob")
    old = make_image(alice, "circle", tags=["red"], created_at=datetime(2023, 6, 1, 12, tzinfo=UTC))
    mine_private = make_image(alice, "square", visibility="private")
    bobs = make_image(bob, "stripes", tags=["red", "lines"])
    Image.objects.filter(pk=bobs.pk).update(status=Image.Status.INDEXED)

    assert set(ids(api.get("/api/images/"))) == {old.pk, mine_private.pk, bobs.pk}
    assert set(ids(api.get("/api/images/", {"owner": "me"}))) == {old.pk, mine_private.pk}
    assert ids(api.get("/api/images/", {"owner": "bob"})) == [bobs.pk]
    assert ids(api.get("/api/images/", {"owner": "nobody"})) == []
    assert ids(api.get("/api/images/", {"status": "indexed"})) == [bobs.pk]
    assert ids(api.get("/api/images/", {"visibility": "private"})) == [mine_private.pk]
    assert set(ids(api.get("/api/images/", {"tag": "Red"}))) == {old.pk, bobs.pk}
    assert set(ids(api.get("/api/images/", {"created_after": "2024-01-01"}))) == {mine_private.pk, bobs.pk}
    assert ids(api.get("/api/images/", {"created_before": "2023-06-01"})) == [old.pk]
    assert ids(api.get("/api/images/", {"created_before": "2023-06-01T11:00:00Z"})) == []
    assert set(ids(api.get("/api/images/", {"ids": f"{old.pk},{bobs.pk},999999"}))) == {old.pk, bobs.pk}
    # owner=me while signed out is an error, here as on every other endpoint.
    response = APIClient().get("/api/images/", {"owner": "me"})
    assert response.status_code == 400
    assert response.json() == {"error": "owner=me needs you to be signed in."}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "done"}, "status must be one of"),
        ({"visibility": "hidden"}, "visibility must be"),
        ({"created_after": "yesterday"}, "created_after must be a date"),
        ({"created_after": "2024-13-45"}, "created_after must be a date"),
        ({"created_before": "2024-02-30T10:00:00"}, "created_before must be a date"),
        ({"ids": "1,two"}, "ids must be a comma-separated list"),
    ],
)
def test_bad_filters_are_400(api, params: dict, message: str) -> None:
    response = api.get("/api/images/", params)
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]


def test_private_images_of_others_are_never_visible(api, alice) -> None:
    bob = make_user("bob")
    secret = make_image(bob, "triangle", visibility="private")
    public = make_image(bob, "square")

    for client in (api, APIClient()):
        assert ids(client.get("/api/images/")) == [public.pk]
        assert ids(client.get("/api/images/", {"owner": "bob", "visibility": "private"})) == []
        assert ids(client.get("/api/images/", {"ids": str(secret.pk)})) == []
        assert client.get(f"/api/images/{secret.pk}/").status_code == 404
        assert client.get(f"/api/images/{public.pk}/").status_code == 200
    # Not to staff either: private means private.
    staff = api_client(make_user("root", is_staff=True))
    assert staff.get(f"/api/images/{secret.pk}/").status_code == 404
    assert api_client(bob).get(f"/api/images/{secret.pk}/").json()["visibility"] == "private"


# ---------------------------------------------------------------------------- edit


def test_owner_edits_title_tags_and_visibility(api, alice) -> None:
    image = make_image(alice, "circle", tags=["old"])
    url = f"/api/images/{image.pk}/"

    body = api.patch(url, {"title": "Sunset", "tags": ["Beach", "sea"]}, format="json").json()
    assert (body["title"], body["tags"]) == ("Sunset", ["beach", "sea"])

    body = api.patch(url, {"tags": "one, two", "visibility": "private"}, format="json").json()
    assert (body["tags"], body["visibility"]) == (["one", "two"], "private")
    assert body["title"] == "Sunset"

    body = api.patch(url, {"tags": []}, format="json").json()
    assert body["tags"] == []
    image.refresh_from_db()
    assert (image.title, image.visibility, image.tag_names()) == ("Sunset", "private", [])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"visibility": "everyone"}, "visibility"),
        ({"tags": ["fine", "no/slashes"]}, "is not allowed"),
        ({"tags": 5}, "tags"),
        ({"title": "x" * 201}, "title"),
    ],
)
def test_bad_edits_are_400(api, alice, change: dict, message: str) -> None:
    image = make_image(alice, tags=["kept"])
    response = api.patch(f"/api/images/{image.pk}/", change, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]
    image.refresh_from_db()
    assert image.tag_names() == ["kept"] and image.visibility == "public"


def test_only_the_owner_edits(api, alice) -> None:
    image = make_image(alice, "square")
    bob = api_client(make_user("bob"))
    response = bob.patch(f"/api/images/{image.pk}/", {"title": "mine now"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"error": "Only the owner can change this image."}
    assert APIClient().patch(f"/api/images/{image.pk}/", {"title": "x"}, format="json").status_code == 401
    image.refresh_from_db()
    assert image.title == "square"


def test_visibility_changes_follow_into_milvus(
    api, alice, clean_index, django_capture_on_commit_callbacks
) -> None:
    image = make_image(alice, "circle", color=(30, 160, 60))
    index(image)
    store, vector = (
        embedding_store(model_of(image), len(vector_of(image))),
        vector_of(image),
    )
    anonymous, owner = SearchFilter(), SearchFilter(viewer_id=alice.pk)
    assert [h.id for h in store.search(vector, limit=5, filter=anonymous)] == [image.pk]

    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/api/images/{image.pk}/", {"visibility": "private"}, format="json")
    assert response.status_code == 200, response.content
    assert store.search(vector, limit=5, filter=anonymous) == []
    assert [h.id for h in store.search(vector, limit=5, filter=owner)] == [image.pk]

    with django_capture_on_commit_callbacks(execute=True):
        api.patch(f"/api/images/{image.pk}/", {"visibility": "public"}, format="json")
    assert [h.id for h in store.search(vector, limit=5, filter=anonymous)] == [image.pk]


def test_an_edit_does_not_undo_concurrent_indexing(alice, clean_index) -> None:
    """A PATCH holds a row loaded before the worker indexed it; saving it must not reset the index."""
    from ingestion import services

    image = make_image(alice, "stripes")
    stale = Image.objects.get(pk=image.pk)
    index(image)

    services.update_image(stale, title="renamed")

    image.refresh_from_db()
    assert image.title == "renamed"
    assert image.status == Image.Status.INDEXED
    assert vector_of(image) is not None and image.thumbnail


# ---------------------------------------------------------------------------- delete


def test_owner_deletes_to_the_trash_then_for_good(
    api, alice, clean_index, django_capture_on_commit_callbacks
) -> None:
    image = make_image(alice, "triangle", color=(10, 120, 240))
    index(image)
    store = embedding_store(model_of(image), len(vector_of(image)))
    assert store.ids() == {image.pk}
    files = [image.original.name, image.thumbnail.name]
    assert all(default_storage.exists(name) for name in files)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/images/{image.pk}/")

    # The trash: gone from every door and the index, its row and files kept for a restore.
    assert response.status_code == 204
    assert not Image.objects.filter(pk=image.pk).exists()
    assert Image.all_objects.get(pk=image.pk).trashed_at is not None
    assert all(default_storage.exists(name) for name in files)
    assert store.ids() == set()

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/trash/{image.pk}/").status_code == 204
    assert not Image.all_objects.filter(pk=image.pk).exists()
    assert not any(default_storage.exists(name) for name in files)


def test_identical_uploads_share_the_stored_file_until_the_last_is_deleted(
    api, alice, django_capture_on_commit_callbacks
) -> None:
    first = make_image(alice, "square", color=(1, 2, 3))
    second = make_image(make_user("bob"), "square", color=(1, 2, 3))
    assert first.original.name == second.original.name

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/images/{first.pk}/").status_code == 204
        assert api.delete(f"/api/trash/{first.pk}/").status_code == 204
    assert default_storage.exists(second.original.name)

    with django_capture_on_commit_callbacks(execute=True):
        second.delete()
    assert not default_storage.exists(second.original.name)


def test_only_the_owner_deletes(alice) -> None:
    public = make_image(alice, "circle")
    private = make_image(alice, "square", visibility="private")
    bob = api_client(make_user("bob"))
    response = bob.delete(f"/api/images/{public.pk}/")
    assert response.status_code == 403
    assert response.json() == {"error": "Only the owner can delete this image."}
    assert bob.delete(f"/api/images/{private.pk}/").status_code == 404
    assert APIClient().delete(f"/api/images/{public.pk}/").status_code == 401
    assert Image.objects.count() == 2


def test_page_size_is_adjustable_within_a_cap(api, alice) -> None:
    for kind in ("circle", "square", "stripes"):
        make_image(alice, kind)
    body = api.get("/api/images/", {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and "page_size=2" in body["next"]
    assert len(api.get("/api/images/", {"page_size": 10_000}).json()["results"]) == 3


def test_admin_lists_images(alice) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    make_image(alice, "circle", title="admin sees me")
    staff = get_user_model().objects.create_superuser("root", password="pw-admin-123")
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/ingestion/image/")
    assert response.status_code == 200 and "admin sees me" in response.content.decode()
