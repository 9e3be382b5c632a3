"""The moderator's desk (issue 17): banning from the image page and the queue, unbanning from the
bank page."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from ingestion.models import Image
from moderation.models import AuditEntry, BanEntry, Group, GroupMember
from tests.factories import make_user, signed_in
from tests.moderation.conftest import jpeg

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


def main_of(response) -> str:
    return re.search(r"<main.*</main>", response.content.decode(), re.S).group(0)


def test_a_moderator_bans_from_the_image_page_and_unbans_from_the_bank_page(alice, moderator, upload):
    image = upload(alice, jpeg(61), title="reported")
    client = signed_in(moderator)
    page = client.get(f"/images/{image.pk}/")
    assert b'id="ban-box-image"' in page.content
    assert f"/moderation/images/{image.pk}/ban/".encode() in page.content

    response = client.post(
        f"/moderation/images/{image.pk}/ban/",
        {"bank": "reports", "category": "spam", "note": "reported by carol", "next": f"/images/{image.pk}/"},
    )
    assert response.status_code == 302 and response["Location"] == f"/images/{image.pk}/"
    entry = BanEntry.objects.get()
    assert (entry.bank.name, entry.category, entry.reason, entry.image_id) == (
        "reports",
        "spam",
        "reported by carol",
        image.pk,
    )
    image.refresh_from_db()
    assert image.moderation == "hidden"
    assert AuditEntry.objects.filter(action="ban", target=f"image {image.pk}").exists()
    page = client.get(f"/images/{image.pk}/")
    assert b'id="withheld"' in page.content and f"ban #{entry.pk}".encode() in page.content
    owner_page = signed_in(alice).get(f"/images/{image.pk}/")
    assert b"Spam or advertising" in owner_page.content and b"carol" not in owner_page.content
    assert b"ban-box" not in owner_page.content  # the form is for moderators
    assert Client().get(f"/images/{image.pk}/").status_code == 404

    bank_page = client.get("/moderation/bans/")
    assert f"/moderation/bans/{entry.pk}/unban/".encode() in bank_page.content
    response = client.post(f"/moderation/bans/{entry.pk}/unban/", {"note": "appeal upheld"})
    assert response.status_code == 302 and response["Location"] == "/moderation/bans/"
    assert not BanEntry.objects.exists()
    image.refresh_from_db()
    assert image.moderation == "visible"
    assert Client().get(f"/images/{image.pk}/").status_code == 200
    assert AuditEntry.objects.filter(action="unban", note__contains="appeal upheld").exists()


def test_the_ban_form_follows_the_apis_404_rules(alice, moderator, upload):
    private = upload(alice, jpeg(62), visibility="private")
    client = signed_in(moderator)
    missing = client.post("/moderation/images/999999/ban/", {"category": "spam"})
    hidden = client.post(f"/moderation/images/{private.pk}/ban/", {"category": "spam"})
    assert missing.status_code == hidden.status_code == 404
    assert main_of(missing) == main_of(hidden)  # the page does not say which one exists
    assert not BanEntry.objects.exists()
    # In an open queue group the moderator reviews it, so it may be banned.
    group = Group.objects.create(kind=Group.Kind.DUPLICATE, size=1)
    GroupMember.objects.create(group=group, image=private)
    response = client.post(f"/moderation/images/{private.pk}/ban/", {"category": "privacy"})
    assert response.status_code == 302 and response["Location"] == "/moderation/"  # not its page: a 404
    assert BanEntry.objects.get().category == "privacy"


def test_only_moderators_ban_and_unban_and_csrf_is_checked(alice, moderator, upload):
    image = upload(alice, jpeg(63))
    url = f"/moderation/images/{image.pk}/ban/"
    anonymous = Client().post(url, {"category": "spam"})
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert signed_in(alice).post(url, {"category": "spam"}).status_code == 403
    assert signed_in(moderator, enforce_csrf_checks=True).post(url, {"category": "spam"}).status_code == 403
    assert not BanEntry.objects.exists()
    client = signed_in(moderator)
    assert client.post(url, {"category": "nope"}).status_code == 400
    assert client.get(url).status_code == 405
    response = client.post(url, {"category": "spam", "next": "https://evil.example/"})
    assert response["Location"] == f"/images/{image.pk}/"  # never off the site
    entry = BanEntry.objects.get()
    unban = f"/moderation/bans/{entry.pk}/unban/"
    assert signed_in(make_user("bob")).post(unban).status_code == 403
    assert Client().post(unban).status_code == 302
    assert signed_in(moderator, enforce_csrf_checks=True).post(unban).status_code == 403
    assert client.post("/moderation/bans/999999/unban/").status_code == 404
    assert BanEntry.objects.filter(pk=entry.pk).exists()


def test_each_open_queue_group_has_a_ban_form_with_a_button_per_image(alice, moderator, upload):
    from bench.images import encode, photo

    original = photo(64)
    a = upload(alice, encode(original))
    b = upload(alice, encode(original.resize((320, 240))))
    group = Group.objects.get(kind="duplicate")
    client = signed_in(moderator)
    page = client.get("/moderation/").content.decode()
    assert f'id="ban-box-{group.pk}"' in page
    for image in (a, b):
        assert f'formaction="/moderation/images/{image.pk}/ban/"' in page
    response = client.post(
        f"/moderation/images/{b.pk}/ban/", {"category": "copyright", "next": "/moderation/?kind=duplicate"}
    )
    assert response["Location"] == "/moderation/?kind=duplicate"
    assert BanEntry.objects.get().image_id == b.pk


def test_the_suggestion_keeps_the_original_not_the_later_copy_padded_with_a_border(alice, moderator, upload):
    """The bordered copy has more pixels and more bytes; the earliest upload is the original."""
    from bench.images import border, encode, photo

    original = photo(65)
    first = upload(alice, encode(original), title="original")
    padded = upload(make_user("bob"), encode(border(original, 0.08), quality=95), title="padded")
    assert padded.width * padded.height > first.width * first.height
    assert padded.size_bytes > first.size_bytes
    group = Group.objects.get(kind="duplicate")
    client = signed_in(moderator)
    body = client.get("/api/moderation/groups/", {"kind": "duplicate"}).json()["results"][0]
    suggested = [i["id"] for i in body["images"] if i["keep_suggested"]]
    assert suggested == [first.pk]
    assert body["keep_reason"] == "earliest upload"
    page = client.get("/moderation/").content.decode()
    card = page[page.index(f'data-image="{first.pk}"') :]
    assert '<em class="keep-reason">(suggested: earliest upload)</em>' in card[: card.index("</figure>")]
    # Bulk keeps the suggestion too: the padded copy goes.
    client.post("/moderation/bulk/", {"groups": [group.pk], "action": "delete"})
    assert list(Image.objects.values_list("pk", flat=True)) == [first.pk]


def test_a_smaller_earlier_upload_is_suggested_and_says_only_why(alice, moderator, upload):
    from bench.images import encode, photo

    original = photo(66)
    small = upload(alice, encode(original.resize((320, 240))))
    upload(alice, encode(original))
    body = signed_in(moderator).get("/api/moderation/groups/").json()["results"][0]
    assert [i["id"] for i in body["images"] if i["keep_suggested"]] == [small.pk]
    assert body["keep_reason"] == "earliest upload"


def test_thumbnails_are_blurred_by_default_and_each_moderator_may_turn_it_off(alice, moderator, upload):
    from bench.images import encode, photo
    from moderation.models import ReviewerSettings

    original = photo(67)
    upload(alice, encode(original))
    upload(alice, encode(original.resize((320, 240))))
    client = signed_in(moderator)
    assert b'class="mod-groups blur-thumbs"' in client.get("/moderation/").content
    response = client.post("/moderation/settings/", {"blur": "off", "next": "/moderation/?kind=duplicate"})
    assert response.status_code == 302 and response["Location"] == "/moderation/?kind=duplicate"
    assert not ReviewerSettings.objects.get(user=moderator).blur_thumbnails
    # Kept with the account: another session (another device) gets the same.
    page = signed_in(moderator).get("/moderation/").content
    assert b'class="mod-groups"' in page and b"blur-thumbs" not in page
    other = make_user("mod2")
    other.groups.add(moderator.groups.get())
    assert b"blur-thumbs" in signed_in(other).get("/moderation/").content  # per moderator
    client.post("/moderation/settings/", {"blur": "on"})
    assert b"blur-thumbs" in client.get("/moderation/").content
    assert client.post("/moderation/settings/", {"blur": "maybe"}).status_code == 400
    assert signed_in(alice).post("/moderation/settings/", {"blur": "off"}).status_code == 403
    assert Client().post("/moderation/settings/", {"blur": "off"}).status_code == 302
    forged = signed_in(moderator, enforce_csrf_checks=True).post("/moderation/settings/", {"blur": "off"})
    assert forged.status_code == 403


def _ban_then_reupload_mirrored(alice, moderator, upload, seed: int):
    from PIL import ImageOps

    from bench.images import encode, photo
    from moderation.bans import ban_image

    original = photo(seed)
    source = upload(alice, encode(original), title="source", visibility="private")
    entry = ban_image(moderator, source, "reported", category="violence")
    copy = upload(make_user("bob"), encode(ImageOps.mirror(original)), title="copy")
    return source, entry, copy


def test_a_banned_reupload_makes_one_group_not_also_a_duplicate_group(alice, moderator, upload):
    """One incident, one group: the upload is judged beside the banned content; it is not also
    queued as a duplicate of the banned image, at upload or by a rescan."""
    from moderation import detection
    from moderation.models import Link

    source, entry, copy = _ban_then_reupload_mirrored(alice, moderator, upload, 68)
    copy.refresh_from_db()
    assert copy.moderation == "hidden"
    groups = list(Group.objects.values_list("kind", "ban_id"))
    assert groups == [("banned", entry.pk)]
    assert not Link.objects.filter(a=source, b=copy).exists()
    detection.rescan(bans=True)
    assert list(Group.objects.values_list("kind", "ban_id")) == [("banned", entry.pk)]
    # A second re-upload is its own incident's group too, not also a duplicate of the first.
    from bench.images import encode, photo

    again = upload(make_user("carol"), encode(photo(68).resize((480, 360))))
    assert sorted(Group.objects.values_list("kind", flat=True)) == ["banned", "banned"]
    assert Group.objects.filter(members__image=again, ban=entry).exists()
    # An unrelated pair still makes a duplicate group.
    other = upload(alice, encode(photo(70)))
    upload(alice, encode(photo(70).resize((320, 240))))
    assert Group.objects.get(kind="duplicate").members.filter(image=other).exists()


def test_the_banned_card_shows_the_entrys_own_thumbnail_beside_the_upload(alice, moderator, upload):
    from django.core.files.storage import default_storage

    source, entry, copy = _ban_then_reupload_mirrored(alice, moderator, upload, 69)
    entry.refresh_from_db()
    assert entry.thumbnail.startswith("bans/") and entry.thumbnail != source.thumbnail.name
    with (
        default_storage.open(entry.thumbnail, "rb") as kept,
        default_storage.open(source.thumbnail.name, "rb") as own,
    ):
        assert kept.read() == own.read()
    group = Group.objects.get(kind="banned")
    assert group.ban_kind == "pdq" and group.ban_variant.startswith("mirror~"), group.ban_variant

    client = signed_in(moderator)
    body = client.get("/api/moderation/groups/", {"kind": "banned"}).json()["results"][0]
    assert body["ban"]["variant"] == group.ban_variant
    assert body["ban"]["pdq_distance"] == group.ban_distance
    assert body["ban"]["thumbnail_url"].endswith(f"/moderation/bans/{entry.pk}/thumbnail/")
    page = client.get("/moderation/").content.decode()
    side = page[page.index(f'id="ban-side-{group.pk}"') :]
    assert f'src="/moderation/bans/{entry.pk}/thumbnail/"' in side[: side.index("</figure>")]
    assert f"variant <code>{group.ban_variant}</code>" in side and f"distance {group.ban_distance}" in side
    assert f'data-image="{copy.pk}"' in side  # the upload beside it

    url = f"/moderation/bans/{entry.pk}/thumbnail/"
    shown = client.get(url)
    assert shown.status_code == 200 and shown["Content-Type"] == "image/webp"
    assert "private" in shown["Cache-Control"]
    assert signed_in(alice).get(url).status_code == 403  # even the source's owner: moderators only
    assert Client().get(url).status_code in (302, 401, 403)
    assert client.get("/moderation/bans/999999/thumbnail/").status_code == 404
    # It outlives the source image, which moderators could not open anyway (private, not queued).
    assert client.get(f"/moderation/images/{source.pk}/thumbnail/").status_code == 404
    source.delete()
    assert client.get(url).status_code == 200
    # Unbanning forgets the picture.
    kept_name = BanEntry.objects.get().thumbnail
    client.post(f"/moderation/bans/{entry.pk}/unban/")
    assert not default_storage.exists(kept_name)
    assert client.get(url).status_code == 404


def test_each_bank_has_its_own_match_distance(alice, moderator, upload):
    """HMA's ask: a match distance per bank (default BAN_PDQ_DISTANCE), used by the ban checks."""
    from django.conf import settings
    from PIL import ImageEnhance

    from bench.images import encode, photo
    from moderation import detection
    from moderation.bans import ban_image

    original = photo(71)
    source = upload(alice, encode(original))
    ban_image(moderator, source, "", bank_name="strict")
    client = signed_in(moderator)
    banks = client.get("/api/moderation/banks/").json()
    assert banks == [
        {
            "name": "strict",
            "enabled": True,
            "entries": 1,
            "max_distance": settings.BAN_PDQ_DISTANCE,
            "max_distance_is_default": True,
        }
    ]

    def patch(body: dict):
        url = "/api/moderation/banks/strict/"
        return client.patch(url, json.dumps(body), content_type="application/json")

    answer = patch({"max_distance": 4})
    assert answer.status_code == 200 and answer.json()["max_distance"] == 4, answer.content
    assert answer.json()["enabled"] is True  # untouched
    assert patch({"max_distance": 256}).status_code == 400
    assert patch({}).status_code == 400
    assert AuditEntry.objects.filter(action="bank_distance", note="PDQ distance 4").exists()

    # More contrast: a near copy about 8 bits away (its nearest variant pair).
    copy = upload(make_user("bob"), encode(ImageEnhance.Contrast(original).enhance(1.8)))
    copy.refresh_from_db()
    assert copy.moderation == "visible"  # beyond the strict bank's 4 bits
    assert not Group.objects.filter(kind="banned").exists()

    # The bank page's form sets it back to the default (empty field); a rescan applies it.
    response = client.post("/moderation/bans/", {"action": "distance", "bank": "strict", "max_distance": ""})
    assert response.status_code == 302
    assert client.get("/api/moderation/banks/").json()[0]["max_distance_is_default"]
    detection.rescan(bans=True)
    group = Group.objects.get(kind="banned")
    assert 4 < group.ban_distance <= settings.BAN_PDQ_DISTANCE
    copy.refresh_from_db()
    assert copy.moderation == "hidden"
