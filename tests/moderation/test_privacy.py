"""Issue 15's privacy items: a resolve never publishes a private copy's metadata, moderators never
read others' private images outside an open group, unbanning un-hides exactly what the ban alone
hid, and the owner of a withheld image is told why (the public category, never the note) and can
ask for a review."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from bench.images import encode, photo
from ingestion.models import Image
from moderation import ban_matching
from moderation.models import AuditEntry, BanEntry, Bank, Group, Hold
from tests.factories import api_client, make_user, signed_in

GROUPS = "/api/moderation/groups/"
BANS = "/api/moderation/bans/"

pytestmark = pytest.mark.django_db


def ban(moderator, image, **extra):
    return api_client(moderator).post(BANS, {"image": image.pk, **extra}, format="json")


def duplicate_group(*images) -> Group:
    ids = {i.pk for i in images}
    for group in Group.objects.filter(kind="duplicate", status="open"):
        if ids <= set(group.members.values_list("image_id", flat=True)):
            return group
    raise AssertionError(f"no open duplicate group holds {ids}")


# ---------------------------------------------------------------------------- 1. merging


def test_resolving_never_copies_a_private_copy_s_tags_or_title_to_another_owner(alice, moderator, upload):
    bob = make_user("bob")
    picture = encode(photo(61))
    public = upload(bob, picture, title="")
    upload(alice, picture, title="My holiday", tags=["secret-place"], visibility="private")
    group = duplicate_group(public)
    response = api_client(moderator).post(
        f"{GROUPS}{group.pk}/resolve/", {"keep": [public.pk], "action": "hide"}, format="json"
    )
    assert response.status_code == 200, response.json()
    public.refresh_from_db()
    assert public.tag_names() == [] and public.title != "My holiday"
    found = api_client().get("/api/search/", {"q": "secret-place", "mode": "text"}).json()["results"]
    assert found == []


def test_within_one_owner_tags_merge_only_into_an_equal_or_stricter_visibility(alice, moderator, upload):
    picture = photo(62)
    private_kept = upload(alice, encode(picture), tags=["family"], visibility="private")
    public_copy = upload(alice, encode(picture, quality=50), title="Beach", tags=["beach"])
    group = duplicate_group(private_kept, public_copy)
    api_client(moderator).post(
        f"{GROUPS}{group.pk}/resolve/", {"keep": [private_kept.pk], "action": "hide"}, format="json"
    )
    private_kept.refresh_from_db()
    assert private_kept.tag_names() == ["beach", "family"]  # public -> private: allowed
    assert private_kept.title != "Beach"  # titles are never merged

    picture = photo(63)
    public_kept = upload(alice, encode(picture), tags=["street"])
    private_copy = upload(alice, encode(picture, quality=50), tags=["home-address"], visibility="private")
    group = duplicate_group(public_kept, private_copy)
    api_client(moderator).post(
        f"{GROUPS}{group.pk}/resolve/", {"keep": [public_kept.pk], "action": "delete"}, format="json"
    )
    public_kept.refresh_from_db()
    assert public_kept.tag_names() == ["street"]  # private -> public: never


# ------------------------------------------------------------------- 2. moderators and private images


def test_a_ban_on_an_image_the_moderator_may_not_see_is_the_same_404_as_a_missing_id(
    alice, moderator, upload
):
    private = upload(alice, encode(photo(64)), visibility="private")
    hidden_answer = ban(moderator, private)
    missing_answer = ban(moderator, Image(pk=private.pk + 1000))
    assert hidden_answer.status_code == missing_answer.status_code == 404
    assert hidden_answer.json() == missing_answer.json()
    assert (
        "sha256" not in hidden_answer.content.decode()
        and private.sha256 not in hidden_answer.content.decode()
    )
    assert not BanEntry.objects.exists()
    private.refresh_from_db()
    assert private.moderation == "visible"


def test_a_private_image_in_an_open_group_can_be_banned_by_its_reviewer(alice, moderator, upload):
    bob = make_user("bob")
    picture = encode(photo(65))
    upload(bob, picture)
    private = upload(alice, picture, visibility="private")
    duplicate_group(private)
    assert ban(moderator, private, category="spam").status_code == 201


def test_a_hidden_private_image_stays_private_to_moderators(alice, moderator, upload):
    private = upload(alice, encode(photo(66)), title="diary page", visibility="private")
    Hold.objects.create(image=private, cause=Hold.Cause.DECISION, public_reason="x")
    Image.objects.filter(pk=private.pk).update(moderation="hidden")
    client = api_client(moderator)
    for path in (
        f"/api/images/{private.pk}/",
        f"/media/images/{private.pk}/original",
        f"/media/images/{private.pk}/thumbnail.webp",
        f"/media/images/{private.pk}/thumbnail.webp?size=preview",
        f"/api/images/{private.pk}/similar/",
        f"/api/images/{private.pk}/duplicates/",
        f"/moderation/images/{private.pk}/original/",  # in no group
    ):
        assert client.get(path).status_code == 404, path
    assert signed_in(moderator).get(f"/images/{private.pk}/").status_code == 404
    listed = client.get("/api/images/", {"owner": "alice"}).json()["results"]
    assert listed == []
    assert client.get("/api/images/", {"moderation": "hidden"}).json()["results"] == []
    found = client.get("/api/search/", {"q": "diary", "mode": "text"}).json()["results"]
    assert found == []


def test_moderators_list_hidden_public_images_only_with_the_hidden_filter(alice, moderator, upload):
    image = upload(alice, encode(photo(67)), title="withheld one")
    assert ban(moderator, image).status_code == 201
    client = api_client(moderator)
    assert [i["id"] for i in client.get("/api/images/").json()["results"]] == []
    assert [i["id"] for i in client.get("/api/images/", {"moderation": "hidden"}).json()["results"]] == [
        image.pk
    ]
    # Its page opens for moderators, marked withheld; the gallery shows what everyone sees.
    page = signed_in(moderator).get(f"/images/{image.pk}/").content.decode()
    assert 'id="withheld"' in page
    assert f'data-image-id="{image.pk}"' not in signed_in(moderator).get("/").content.decode()
    hidden = signed_in(moderator).get("/", {"moderation": "hidden"}).content.decode()
    assert f'data-image-id="{image.pk}"' in hidden and "badge withheld" in hidden
    # Others see nothing, and may not filter their way to it.
    assert api_client(make_user("bob")).get("/api/images/", {"moderation": "hidden"}).json()["results"] == []


def test_moderation_urls_close_with_the_group_and_every_opening_is_audited(alice, moderator, upload):
    bob = make_user("bob")
    picture = encode(photo(68))
    public = upload(bob, picture)
    private = upload(alice, picture, visibility="private")
    group = duplicate_group(public, private)
    client = api_client(moderator)
    body = client.get(f"{GROUPS}{group.pk}/").json()
    member = next(i for i in body["images"] if i["id"] == private.pk)
    assert "/moderation/images/" in member["thumbnail_url"] and member["page_url"] is None
    assert client.get(f"/moderation/images/{private.pk}/thumbnail/").status_code == 200
    assert client.get(f"/moderation/images/{private.pk}/original/").status_code == 200
    opened = AuditEntry.objects.filter(action="view_private", target=f"image {private.pk}")
    assert opened.count() == 2 and opened.first().moderator == moderator
    # The public member is the moderator's to see anyway: no audit entry for it.
    assert client.get(f"/moderation/images/{public.pk}/thumbnail/").status_code == 200
    assert not AuditEntry.objects.filter(action="view_private", target=f"image {public.pk}").exists()

    client.post(f"{GROUPS}{group.pk}/dismiss/", {}, format="json")
    assert client.get(f"/moderation/images/{private.pk}/thumbnail/").status_code == 404
    assert client.get(f"/moderation/images/{private.pk}/original/").status_code == 404
    member = next(i for i in client.get(f"{GROUPS}{group.pk}/").json()["images"] if i["id"] == private.pk)
    assert member["url"] is None and member["thumbnail_url"] is None


# ---------------------------------------------------------------------------- unbanning


def test_unbanning_unhides_what_that_ban_alone_hid(alice, moderator, upload):
    bob = make_user("bob")
    picture = photo(69)
    source = upload(alice, encode(picture))
    entry = ban(moderator, source).json()
    reupload = upload(bob, encode(picture.resize((480, 360)), quality=70))
    assert reupload.moderation == "hidden"
    # A retroactive match: uploaded while the bank was off, found by the rescan.
    Bank.objects.update(enabled=False)
    retro = upload(make_user("carol"), encode(picture, quality=60))
    assert retro.moderation == "visible"
    Bank.objects.update(enabled=True)
    call_command("find_duplicates", "--bans", "--quiet")
    retro.refresh_from_db()
    assert retro.moderation == "hidden"
    # Another ban still holds one of them; a moderator's decision holds the other.
    other_bank = upload(make_user("dave"), encode(photo(70)))
    assert ban(moderator, other_bank).status_code == 201
    second = BanEntry.objects.get(image=other_bank)
    Hold.objects.create(image=reupload, cause=Hold.Cause.BAN, ban=second, public_reason="other ban")
    Hold.objects.create(image=retro, cause=Hold.Cause.DECISION, public_reason="a moderator's decision")

    response = api_client(moderator).delete(f"{BANS}{entry['id']}/")
    assert response.status_code == 204
    for image, state in ((source, "visible"), (reupload, "hidden"), (retro, "hidden")):
        image.refresh_from_db()
        assert image.moderation == state, image
    assert api_client().get(f"/api/images/{source.pk}/").status_code == 200
    reupload.refresh_from_db()
    assert reupload.moderation_reason == "other ban"
    # The queue no longer asks about a ban that is gone.
    assert not Group.objects.filter(kind="banned", status="open", ban__isnull=True).exists()


def test_a_false_positive_releases_only_its_own_ban(alice, moderator, upload):
    picture = photo(71)
    source = upload(alice, encode(picture))
    ban(moderator, source)
    bob = make_user("bob")
    again = upload(bob, encode(picture, quality=55))
    (group,) = Group.objects.filter(kind="banned", status="open")
    Hold.objects.create(image=again, cause=Hold.Cause.DECISION, public_reason="decided")
    api_client(moderator).post(f"{GROUPS}{group.pk}/dismiss/", {}, format="json")
    again.refresh_from_db()
    assert again.moderation == "hidden" and again.moderation_reason == "decided"
    Hold.objects.filter(image=again).delete()
    ban_matching.apply_bans([again])  # judged once: a false positive is not withheld again
    again.refresh_from_db()
    assert not Hold.objects.filter(image=again).exists()


# ---------------------------------------------------------------------------- 3. the owner is told


def test_the_owner_reads_the_public_category_never_the_internal_note(alice, moderator, upload):
    picture = photo(72)
    source = upload(alice, encode(picture))
    ban(moderator, source, category="copyright", note="reported by carol")
    bob = make_user("bob")
    response = api_client(bob).post("/api/images/", {"file": _file(encode(picture))}, format="multipart")
    assert response.status_code == 201
    body = response.json()
    assert body["moderation"] == "hidden" and "Copyright infringement" in body["moderation_reason"]
    assert "carol" not in response.content.decode()
    page = signed_in(bob).get(f"/images/{body['id']}/").content.decode()
    assert "Copyright infringement" in page and "carol" not in page and 'id="request-review"' in page
    gallery = signed_in(bob).get("/", {"owner": "me"}).content.decode()
    assert "badge withheld" in gallery and "carol" not in gallery
    # Moderators still read the note.
    assert "reported by carol" in signed_in(moderator).get("/moderation/?kind=banned").content.decode()


def _file(data: bytes):
    return SimpleUploadedFile("copy.jpg", data, content_type="image/jpeg")


def test_the_owner_can_request_a_review_once_and_a_dismissal_shows_the_image(alice, moderator, upload):
    image = upload(alice, encode(photo(73)))
    assert ban(moderator, image, category="spam").status_code == 201
    bob_client = signed_in(make_user("bob"))
    assert bob_client.post(f"/images/{image.pk}/request-review/").status_code == 404
    assert api_client(moderator).post(f"/api/images/{image.pk}/request-review/").status_code == 403

    owner = signed_in(alice)
    response = owner.post(f"/images/{image.pk}/request-review/", {"note": "it is my own photo"})
    assert response.status_code == 302
    (group,) = Group.objects.filter(kind="banned", status="open")
    assert group.requested_by_owner and list(group.members.values_list("image_id", flat=True)) == [image.pk]
    entry = AuditEntry.objects.get(action="request_review")
    assert entry.moderator == alice and entry.note == "it is my own photo"
    page = owner.get(f"/images/{image.pk}/").content.decode()
    assert 'id="review-requested"' in page and 'id="request-review"' not in page
    again = api_client(alice).post(f"/api/images/{image.pk}/request-review/")
    assert again.status_code == 400 and "already" in again.json()["error"]
    queue = api_client(moderator).get(GROUPS, {"kind": "banned"}).json()["results"]
    assert queue[0]["requested_by_owner"] is True

    api_client(moderator).post(f"{GROUPS}{group.pk}/dismiss/", {"note": "fine"}, format="json")
    image.refresh_from_db()
    assert image.moderation == "visible" and image.moderation_reason == ""


def test_a_confirmed_review_keeps_the_image_withheld_for_good(alice, moderator, upload):
    image = upload(alice, encode(photo(74)))
    ban(moderator, image)
    api_client(alice).post(f"/api/images/{image.pk}/request-review/")
    (group,) = Group.objects.filter(kind="banned", status="open")
    api_client(moderator).post(f"{GROUPS}{group.pk}/resolve/", {"keep": [], "action": "hide"}, format="json")
    image.refresh_from_db()
    assert image.moderation == "hidden"
    assert api_client(alice).post(f"/api/images/{image.pk}/request-review/").status_code == 400


def test_a_visible_image_has_nothing_to_review(alice, upload):
    image = upload(alice, encode(photo(75)))
    response = api_client(alice).post(f"/api/images/{image.pk}/request-review/")
    assert response.status_code == 400 and "not withheld" in response.json()["error"]


# ---------------------------------------------------------------------------- 7. CSV formula injection


@pytest.mark.parametrize("note", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"])
def test_exported_notes_never_start_a_formula_and_read_back_unchanged(alice, moderator, upload, note):
    image = upload(alice, encode(photo(76)))
    ban(moderator, image)
    BanEntry.objects.update(reason=note)  # as a partner's file or an older version may have stored it
    client = api_client(moderator)
    exported = b"".join(client.get(f"{BANS}export/").streaming_content).decode()
    rows = list(csv.reader(io.StringIO(exported)))
    cell = rows[1][3]
    assert cell.startswith("'") and not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    BanEntry.objects.all().delete()
    data = exported.encode()
    upload_file = SimpleUploadedFile("bans.csv", data, content_type="text/csv")
    assert client.post(f"{BANS}import/", {"file": upload_file}, format="multipart").status_code == 201
    assert BanEntry.objects.get().reason == note


def test_an_import_takes_a_public_category_column(moderator):
    data = ("f" * 64 + ",90,partner,from a partner,spam\n" + "e" * 64 + ",90,partner,x,nonsense\n").encode()
    response = api_client(moderator).post(
        f"{BANS}import/", {"file": SimpleUploadedFile("b.csv", data)}, format="multipart"
    )
    assert response.status_code == 400 and "line 2" in response.json()["error"]
    data = ("f" * 64 + ",90,partner,from a partner,spam\n").encode()
    api_client(moderator).post(
        f"{BANS}import/", {"file": SimpleUploadedFile("b.csv", data)}, format="multipart"
    )
    assert BanEntry.objects.get().category == "spam"


def test_the_audit_and_the_answer_name_the_images_actually_deleted(alice, moderator, upload):
    picture = photo(77)
    keep = upload(alice, encode(picture))
    other = upload(alice, encode(picture, quality=45))
    group = duplicate_group(keep, other)
    response = api_client(moderator).post(
        f"{GROUPS}{group.pk}/resolve/", {"keep": [keep.pk], "action": "delete"}, format="json"
    )
    assert response.json()["removed"] == [other.pk]
    entry = AuditEntry.objects.get(action="resolve_delete")
    assert f"deleted [{other.pk}]" in entry.note and "None" not in entry.note
