"""The trash (issue 17, undo): a deleted image leaves every door, listing, search and the index,
is restorable by its owner (re-published: search finds it again) until TRASH_DAYS have passed,
then the purge deletes its row and files. Tried per role: owner, other user, anonymous, moderator,
superuser."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as AuthGroup
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from ingestion import trash
from ingestion.access import MODERATORS_GROUP
from ingestion.models import Image
from search import index as search_index
from search.pipeline.reconcile import reconcile
from tests.factories import (
    PASSWORD,
    api_client,
    index,
    make_image,
    make_user,
    model_of,
    noise_png,
    signed_in,
    vector_of,
)

pytestmark = pytest.mark.django_db

ROLES = ("owner", "other", "anonymous", "moderator", "superuser")


@pytest.fixture
def people(alice) -> dict:
    mod = make_user("mod")
    mod.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    return {"owner": alice, "other": make_user("bob"), "anonymous": None, "moderator": mod, "superuser": root}


@pytest.fixture
def to_trash(django_capture_on_commit_callbacks):
    """to_trash(image, by, origin=...): trashed as the pages do, with the on-commit receivers run."""

    def run(image: Image, by, origin: str = Image.TrashOrigin.DELETE) -> Image:
        with django_capture_on_commit_callbacks(execute=True):
            assert trash.move_to_trash([image], by, origin) == [image.pk]
        return Image.all_objects.get(pk=image.pk)

    return run


def store_ids(image: Image) -> set[int]:
    vector = vector_of(image)
    return search_index.embedding_store(model_of(image), len(vector)).ids()


# ---------------------------------------------------------------------------- out of every door


def test_a_trashed_image_leaves_every_door_listing_search_and_the_index(
    alice, people, to_trash, clean_index, django_capture_on_commit_callbacks
):
    image = make_image(alice, "triangle", title="lighthouse at dusk", tags=["coast"])
    index(image)
    assert store_ids(image) == {image.pk}
    to_trash(image, alice)

    assert store_ids(image) == set()
    for role, user in people.items():
        client = signed_in(user) if user else api_client()
        for url in (
            f"/images/{image.pk}/",
            f"/api/images/{image.pk}/",
            f"/media/images/{image.pk}/original",
            f"/media/images/{image.pk}/thumbnail.webp",
            f"/api/images/{image.pk}/similar/",
            f"/api/images/{image.pk}/duplicates/",
        ):
            assert client.get(url).status_code == 404, (role, url)
        assert client.get("/api/images/").json()["results"] == [], role
        found = client.get("/api/search/", {"q": "lighthouse", "mode": "text"}).json()["results"]
        assert found == [], role
        assert client.get("/api/search/", {"q": f"image:{image.pk}"}).status_code == 400, role  # unknown
    # Its files stay for a restore.
    assert default_storage.exists(image.original.name) and default_storage.exists(image.thumbnail.name)


def test_reconcile_never_publishes_a_trashed_image_again(alice, to_trash, clean_index):
    image, live = make_image(alice, "circle"), make_image(alice, "square")
    index(image, live)
    trashed = to_trash(image, alice)
    search_index.publish([trashed])  # as if the unpublish had been lost
    assert store_ids(image) == {image.pk, live.pk}
    reconcile()
    assert store_ids(image) == {live.pk}
    search_index.unpublish([live])  # lost the other way: the live image comes back, not the trashed one
    reconcile()
    assert store_ids(image) == {live.pk}


# ---------------------------------------------------------------------------- restore


def test_restore_brings_back_title_tags_visibility_and_search_finds_it_again(
    alice, to_trash, clean_index, django_capture_on_commit_callbacks
):
    image = make_image(alice, "square", title="red kayak", tags=["river"], visibility="private")
    index(image)
    to_trash(image, alice)
    api = api_client(alice)
    listed = api.get("/api/trash/").json()
    assert [i["id"] for i in listed["results"]] == [image.pk]
    item = listed["results"][0]
    assert (item["title"], item["tags"], item["visibility"], item["trashed_by"]) == (
        "red kayak",
        ["river"],
        "private",
        "owner",
    )
    assert item["restorable"] is True and listed["trash_days"] == 30

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/images/{image.pk}/restore/")
    assert response.status_code == 200 and response.json()["restored"] is True

    back = Image.objects.get(pk=image.pk)
    assert (back.title, back.tag_names(), back.visibility, back.trashed_at) == (
        "red kayak",
        ["river"],
        "private",
        None,
    )
    assert store_ids(back) == {image.pk}  # republished from the stored vector
    found = api.get("/api/search/", {"q": "kayak", "mode": "text"}).json()["results"]
    assert [r["id"] for r in found] == [image.pk]
    assert api.get("/api/search/", {"q": f"image:{image.pk}"}).status_code == 200  # its vector is known
    assert api.get("/api/trash/").json()["results"] == []
    assert api.post(f"/api/images/{image.pk}/restore/").status_code == 404  # not in the trash any more


def test_an_image_trashed_before_it_was_indexed_is_indexed_when_restored(
    alice, to_trash, django_capture_on_commit_callbacks, monkeypatch
):
    queued: list[list[int]] = []
    monkeypatch.setattr("search.handlers.enqueue_indexing", lambda ids, **kw: queued.append(list(ids)))
    image = make_image(alice, "circle")
    to_trash(image, alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client(alice).post(f"/api/images/{image.pk}/restore/").status_code == 200
    assert queued == [[image.pk]]


# ---------------------------------------------------------------------------- per role


@pytest.mark.parametrize("role", ROLES)
def test_the_trash_api_per_role(people, role, to_trash):
    owner = people["owner"]
    public, private = make_image(owner, "circle"), make_image(owner, "square", visibility="private")
    index(public, private)  # thumbnails
    public, private = to_trash(public, owner), to_trash(private, owner)
    user = people[role]
    api = api_client(user)
    listing = api.get("/api/trash/")
    if role == "anonymous":
        assert listing.status_code == 401
    else:
        expected = {public.pk, private.pk} if role == "owner" else set()
        assert {i["id"] for i in listing.json()["results"]} == expected, role
    moderation = api.get("/api/trash/", {"scope": "moderation"}).status_code
    assert moderation == {"anonymous": 401, "moderator": 200, "superuser": 200}.get(role, 403), role
    for image in (public, private):
        # What the owner deleted is theirs alone: everyone else gets the 404 of a missing id.
        expected = 200 if role == "owner" else 401 if role == "anonymous" else 404
        assert api.get(f"/api/trash/{image.pk}/").status_code == expected, role
        thumb = (signed_in(user) if user else api).get(f"/trash/{image.pk}/thumbnail.webp")
        assert thumb.status_code == (200 if role == "owner" else 404), role
        if role != "owner":
            assert api.post(f"/api/images/{image.pk}/restore/").status_code == expected, role
            assert api.delete(f"/api/trash/{image.pk}/").status_code == expected, role
            assert Image.all_objects.filter(pk=image.pk, trashed_at__isnull=False).exists()
    if role != "anonymous":
        assert api.delete("/api/trash/").json() == {"deleted": 2 if role == "owner" else 0}
    assert Image.all_objects.filter(pk=public.pk).exists() == (role != "owner")


def test_moderators_see_what_moderation_trashed_without_others_private_content(people, to_trash):
    owner, mod = people["owner"], people["moderator"]
    public = make_image(owner, "circle", title="public one")
    private = make_image(owner, "square", title="secret", tags=["diary"], visibility="private")
    index(public, private)  # thumbnails
    public = to_trash(public, mod, Image.TrashOrigin.MODERATION)
    private = to_trash(private, mod, Image.TrashOrigin.MODERATION)
    own_delete = to_trash(make_image(owner, "triangle"), owner)
    listed = api_client(mod).get("/api/trash/", {"scope": "moderation"}).json()["results"]
    by_id = {i["id"]: i for i in listed}
    assert set(by_id) == {public.pk, private.pk}  # never what an owner deleted themselves
    assert by_id[public.pk]["title"] == "public one" and by_id[public.pk]["thumbnail_url"]
    assert not {"title", "tags", "thumbnail_url"} & set(by_id[private.pk])
    assert signed_in(mod).get(f"/trash/{public.pk}/thumbnail.webp").status_code == 200
    assert signed_in(mod).get(f"/trash/{private.pk}/thumbnail.webp").status_code == 404
    assert api_client(mod).get(f"/api/trash/{own_delete.pk}/").status_code == 404
    # The owner sees moderation's removals in their own trash too.
    mine = api_client(owner).get("/api/trash/").json()["results"]
    assert {i["id"]: i["trashed_by"] for i in mine}[public.pk] == "moderation"


def test_bad_scope_is_the_same_clear_400_on_the_page_and_the_api(alice):
    response = api_client(alice).get("/api/trash/", {"scope": "everyone"})
    assert response.status_code == 400
    message = response.json()["error"]
    assert message == "scope must be one of mine, moderation."
    page = signed_in(alice).get("/trash/", {"scope": "everyone"})
    assert page.status_code == 400 and message in page.content.decode()


# ---------------------------------------------------------------------------- purge


def test_the_purge_deletes_rows_and_files_after_trash_days_only(
    alice, to_trash, settings, django_capture_on_commit_callbacks
):
    settings.TRASH_DAYS = 30
    old = to_trash(make_image(alice, data=noise_png(1)), alice)
    recent = to_trash(make_image(alice, data=noise_png(2)), alice)
    live = make_image(alice, data=noise_png(3))
    Image.all_objects.filter(pk=old.pk).update(trashed_at=timezone.now() - timedelta(days=30, minutes=1))
    Image.all_objects.filter(pk=recent.pk).update(trashed_at=timezone.now() - timedelta(days=29))

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_trash", stdout=out)
    assert "Deleted 1 image(s)" in out.getvalue()
    assert not Image.all_objects.filter(pk=old.pk).exists()
    assert not default_storage.exists(old.original.name)
    assert Image.all_objects.filter(pk=recent.pk).exists() and Image.objects.filter(pk=live.pk).exists()
    assert default_storage.exists(recent.original.name)

    settings.TRASH_DAYS = 7  # the setting decides
    with django_capture_on_commit_callbacks(execute=True):
        assert trash.purge_expired() == 1
    assert not Image.all_objects.filter(pk=recent.pk).exists()


def test_the_purge_keeps_files_another_row_still_uses(alice, to_trash, django_capture_on_commit_callbacks):
    data = noise_png(4)
    gone = to_trash(make_image(alice, data=data), alice)
    kept = make_image(make_user("bob"), data=data)
    Image.all_objects.filter(pk=gone.pk).update(trashed_at=timezone.now() - timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=True):
        assert trash.purge_expired() == 1
    assert default_storage.exists(kept.original.name)


def test_beat_runs_the_purge_hourly(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["purge-trash"]
    assert entry["task"] == "ingestion.tasks.purge_trash"
    from webapp.celery import app

    app.loader.import_default_modules()
    assert "ingestion.tasks.purge_trash" in app.tasks


# ---------------------------------------------------------------------------- an exact copy


def test_uploading_an_exact_copy_of_something_in_the_trash_offers_the_restore(alice, to_trash):
    data = noise_png(5)
    trashed = to_trash(make_image(alice, data=data), alice)
    api = api_client(alice)
    refused = api.post(
        "/api/images/",
        {"file": SimpleUploadedFile("again.png", data), "allow_duplicate": "false"},
        format="multipart",
    )
    assert refused.status_code == 409
    body = refused.json()
    assert body["duplicate_of"] == trashed.pk and body["in_trash"] is True
    assert body["restore_url"] == f"/api/images/{trashed.pk}/restore/" and "trash" in body["error"]
    # Anyway: a new image, the trashed one untouched.
    again = api.post(
        "/api/images/",
        {"file": SimpleUploadedFile("again.png", data), "allow_duplicate": "true"},
        format="multipart",
    )
    assert again.status_code == 201 and again.json()["id"] != trashed.pk
    assert Image.all_objects.get(pk=trashed.pk).trashed_at is not None
    # Someone else's trash is not consulted.
    fields = {"file": SimpleUploadedFile("b.png", data), "allow_duplicate": "false"}
    other = api_client(make_user("bob")).post("/api/images/", fields, format="multipart")
    assert other.status_code == 201


# ---------------------------------------------------------------------------- pages


def test_the_trash_page_restores_deletes_forever_and_empties(alice, django_capture_on_commit_callbacks):
    first = make_image(alice, data=noise_png(6), title="first")
    second = make_image(alice, data=noise_png(7), title="second")
    third = make_image(alice, data=noise_png(8), title="third")
    page = signed_in(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = page.post(f"/images/{first.pk}/delete/", follow=True)
        page.post("/images/bulk/", {"ids": f"{second.pk},{third.pk}", "action": "delete"})
    assert "Moved to the trash" in response.content.decode()
    assert not Image.objects.exists()
    html = page.get("/trash/").content.decode()
    assert all(f'data-image-id="{i.pk}"' in html for i in (first, second, third))
    assert "for 30 days" in html or "30 days" in html

    with django_capture_on_commit_callbacks(execute=True):
        page.post(f"/trash/{first.pk}/restore/")
        page.post(f"/trash/{second.pk}/delete/")
    assert list(Image.objects.values_list("pk", flat=True)) == [first.pk]
    assert not Image.all_objects.filter(pk=second.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        page.post("/trash/empty/")
    assert not Image.all_objects.filter(pk=third.pk).exists()
    assert "The trash is empty." in page.get("/trash/").content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_trash_pages_per_role(people, role, to_trash):
    owner = people["owner"]
    image = to_trash(make_image(owner, "circle", title="mine"), owner)
    user = people[role]
    client = signed_in(user) if user else api_client()
    page = client.get("/trash/")
    if role == "anonymous":
        assert page.status_code == 302 and "/accounts/login/" in page["Location"]
        for url in (f"/trash/{image.pk}/restore/", f"/trash/{image.pk}/delete/", "/trash/empty/"):
            assert client.post(url).status_code == 302
    else:
        assert page.status_code == 200
        assert (f'data-image-id="{image.pk}"' in page.content.decode()) == (role == "owner")
        moderation = client.get("/trash/", {"scope": "moderation"}).status_code
        assert moderation == (200 if role in ("moderator", "superuser") else 403)
        if role != "owner":
            assert client.post(f"/trash/{image.pk}/restore/").status_code == 404
            assert client.post(f"/trash/{image.pk}/delete/").status_code == 404
            client.post("/trash/empty/")  # empties their own trash only
    assert Image.all_objects.filter(pk=image.pk, trashed_at__isnull=False).exists()
