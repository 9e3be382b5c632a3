"""The moderation API (contract in design.md): roles, the queue, decisions, bans, CSV, audit."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from bench.images import encode, photo
from ingestion.models import Image
from moderation.models import BanEntry, Group
from tests.factories import api_client, make_user, plain_hash

from .conftest import jpeg

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]
GROUPS = "/api/moderation/groups/"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", GROUPS),
        ("post", "/api/moderation/groups/1/resolve/"),
        ("post", "/api/moderation/groups/1/dismiss/"),
        ("get", "/api/moderation/bans/"),
        ("post", "/api/moderation/bans/"),
        ("delete", "/api/moderation/bans/1/"),
        ("get", "/api/moderation/bans/export/"),
        ("post", "/api/moderation/bans/import/"),
        ("get", "/api/moderation/audit/"),
    ],
)
def test_signed_out_gets_401_and_non_moderators_403(method, path, alice):
    anonymous = getattr(api_client(), method)(path)
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    member = getattr(api_client(alice), method)(path)
    assert member.status_code == 403 and "error" in member.json()


def test_superusers_are_moderators():
    root = make_user("root", is_superuser=True, is_staff=True)
    assert api_client(root).get(GROUPS).status_code == 200


def test_queue_lists_a_group_with_images_links_and_a_keep_suggestion(alice, moderator, upload):
    original = photo(21)
    big = upload(alice, encode(original))
    small = upload(alice, encode(original.resize((320, 240))))
    body = api_client(moderator).get(GROUPS, {"kind": "duplicate", "status": "open"}).json()
    assert body["count"] == 1 and body["next"] is None
    group = body["results"][0]
    assert group["kind"] == "duplicate" and group["status"] == "open" and group["ban"] is None
    images = {i["id"]: i for i in group["images"]}
    assert set(images) == {big.pk, small.pk}
    assert images[big.pk]["keep_suggested"] and not images[small.pk]["keep_suggested"]
    assert group["keep_reason"] == "earliest upload, most pixels"  # big came first and is larger
    assert {"url", "thumbnail_url", "owner", "width", "height", "bytes", "created_at"} <= set(images[big.pk])
    link = group["links"][0]
    assert (link["a"], link["b"]) == (big.pk, small.pk)
    assert link["kind"] in ("pdq", "exact") and isinstance(link["pdq_distance"], int)


def test_bad_filters_are_400(moderator):
    response = api_client(moderator).get(GROUPS, {"kind": "weird"})
    assert response.status_code == 400 and "kind" in response.json()["error"]


def test_resolve_keeps_one_deletes_the_rest_merges_tags_and_is_audited(alice, moderator, upload):
    original = photo(22)
    keep = upload(alice, encode(original))
    Image.objects.filter(pk=keep.pk).update(title="")  # a title is never merged, even into an untitled one
    other = upload(alice, encode(original, quality=40), title="Sunset", tags=["beach"])
    group = Group.objects.get(kind="duplicate")
    client = api_client(moderator)
    bad = client.post(f"{GROUPS}{group.pk}/resolve/", {"keep": [999999], "action": "delete"}, format="json")
    assert bad.status_code == 400
    response = client.post(
        f"{GROUPS}{group.pk}/resolve/",
        {"keep": [keep.pk], "action": "delete", "note": "dupes"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert not Image.objects.filter(pk=other.pk).exists()
    keep.refresh_from_db()
    assert keep.title == "" and keep.tag_names() == ["beach"]
    group.refresh_from_db()
    assert group.status == "resolved"
    audit = client.get("/api/moderation/audit/").json()
    assert audit[0]["action"] == "resolve_delete" and audit[0]["moderator"] == "mod"
    assert "dupes" in audit[0]["note"] and audit[0]["target"] == f"group {group.pk}"
    again = client.post(
        f"{GROUPS}{group.pk}/resolve/", {"keep": [keep.pk], "action": "delete"}, format="json"
    )
    assert again.status_code == 400


def test_a_banned_image_reuploaded_resized_is_hidden_and_queued(alice, moderator, upload):
    original = photo(23)
    bad = upload(alice, encode(original))
    client = api_client(moderator)
    created = client.post(
        "/api/moderation/bans/",
        {"image": bad.pk, "reason": "gore", "category": "violence", "bank": "violence"},
    )
    assert created.status_code == 201, created.json()
    bob = make_user("bob")
    again = upload(bob, encode(original.resize((400, 300)), quality=70))
    # The owner reads the public category, never the moderator's internal note.
    assert again.moderation == "hidden" and "Violent or graphic content" in again.moderation_reason
    assert "gore" not in again.moderation_reason
    # Hidden from others, shown to its owner (with why) and to moderators.
    assert api_client(alice).get(f"/api/images/{again.pk}/").status_code == 404
    assert api_client().get(f"/api/images/{again.pk}/").status_code == 404
    mine = api_client(bob).get(f"/api/images/{again.pk}/").json()
    assert mine["moderation"] == "hidden" and "Violent" in mine["moderation_reason"]
    assert "gore" not in mine["moderation_reason"]
    assert api_client(moderator).get(f"/api/images/{again.pk}/").json()["moderation"] == "hidden"
    assert "moderation" not in api_client(bob).get(f"/api/images/{big_public(alice, upload).pk}/").json()
    body = client.get(GROUPS, {"kind": "banned"}).json()
    group = body["results"][0]
    assert [i["id"] for i in group["images"]] == [again.pk]
    assert group["ban"]["bank"] == "violence" and group["ban"]["reason"] == "gore"
    # A false positive shows it again and counts against the entry.
    assert client.post(f"{GROUPS}{group['id']}/dismiss/", {"note": "fine"}, format="json").status_code == 200
    again.refresh_from_db()
    assert again.moderation == "visible"
    assert BanEntry.objects.get().false_positives == 1


def big_public(owner, upload) -> Image:
    return upload(owner, jpeg(99))


def test_a_disabled_bank_matches_nothing(alice, moderator, upload):
    original = photo(24)
    bad = upload(alice, encode(original))
    client = api_client(moderator)
    client.post("/api/moderation/bans/", {"image": bad.pk, "reason": "spam", "bank": "spam"})
    assert client.patch("/api/moderation/banks/spam/", {"enabled": False}, format="json").status_code == 200
    again = upload(make_user("bob"), encode(original, quality=50))
    assert again.moderation == "visible"


def test_csv_export_import_round_trip_and_validation(alice, moderator, upload):
    bad = upload(alice, jpeg(25))
    client = api_client(moderator)
    client.post("/api/moderation/bans/", {"image": bad.pk, "reason": "scam, obviously", "bank": "fraud"})
    exported = b"".join(client.get("/api/moderation/bans/export/").streaming_content)
    lines = exported.decode().splitlines()
    assert lines[0] == "pdq_hex,quality,bank,reason" and plain_hash(bad).pdq_hash in lines[1]
    BanEntry.objects.all().delete()
    imported = client.post("/api/moderation/bans/import/", {"file": SimpleUploadedFile("b.csv", exported)})
    assert imported.status_code == 201
    body = imported.json()
    assert (body["imported"], body["skipped"], body["rescan"]["status"]) == (1, 0, "queued")
    entry = BanEntry.objects.get()
    expected = (plain_hash(bad).pdq_hash, "fraud", "scam, obviously")
    assert (entry.pdq_hash, entry.bank.name, entry.reason) == expected
    # Imported hashes match uploads too.
    again = upload(make_user("bob"), encode(photo(25), quality=60))
    assert again.moderation == "hidden"
    for body, words in [
        (b"abc,100,x,y\n", "64 hexadecimal"),
        (("a" * 64 + ",101,x,y\n").encode(), "quality"),
        (("a" * 64 + ",50,bad/name,y\n").encode(), "bank"),
        (b"\xff\xfe", "UTF-8"),
        (b"", "no rows"),
    ]:
        response = client.post("/api/moderation/bans/import/", {"file": SimpleUploadedFile("b.csv", body)})
        assert response.status_code == 400 and words in response.json()["error"], (body, response.json())
    assert BanEntry.objects.count() == 1  # nothing half-imported


def test_csv_import_is_size_limited(moderator, settings):
    settings.MODERATION_IMPORT_MAX_BYTES = 100
    big = ("a" * 64 + ",100,x,y\n").encode() * 5
    response = api_client(moderator).post(
        "/api/moderation/bans/import/", {"file": SimpleUploadedFile("b.csv", big)}
    )
    assert response.status_code == 413


def test_delete_a_ban(alice, moderator, upload):
    bad = upload(alice, jpeg(26))
    client = api_client(moderator)
    entry = client.post("/api/moderation/bans/", {"image": bad.pk, "reason": "x"}).json()
    assert client.get("/api/moderation/bans/").json()["count"] == 1
    assert client.delete(f"/api/moderation/bans/{entry['id']}/").status_code == 204
    assert client.get("/api/moderation/bans/").json()["count"] == 0
    assert client.delete(f"/api/moderation/bans/{entry['id']}/").status_code == 404


def test_bulk_dismiss_is_bounded(moderator):
    client = api_client(moderator)
    too_many = client.post(
        f"{GROUPS}bulk/", {"groups": list(range(1, 200)), "action": "dismiss"}, format="json"
    )
    assert too_many.status_code == 400
