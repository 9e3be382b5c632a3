"""Moderation pages: who may open them, and the form posts behind the buttons."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bench.images import encode, photo
from moderation.models import AuditEntry, BanEntry, Group, Link
from tests.factories import signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]


@pytest.mark.parametrize("path", ["/moderation/", "/moderation/audit/", "/moderation/bans/"])
def test_signed_out_goes_to_login_and_members_get_403(path, alice):
    response = Client().get(path)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    forbidden = signed_in(alice).get(path)
    assert forbidden.status_code == 403 and b"Only moderators" in forbidden.content


def test_the_queue_shows_a_group_and_not_a_duplicate_closes_it(alice, moderator, upload):
    original = photo(41)
    a = upload(alice, encode(original))
    b = upload(alice, encode(original.resize((300, 225))))
    client = signed_in(moderator)
    page = client.get("/moderation/")
    group = Group.objects.get(kind="duplicate")
    assert page.status_code == 200 and f'id="group-{group.pk}"'.encode() in page.content
    assert b"demo model" in page.content  # why the semantic tier is off
    assert b"Moderation" in page.content  # the navigation link
    assert client.get("/moderation/?kind=nope").status_code == 400
    response = client.post(f"/moderation/groups/{group.pk}/dismiss/", {"note": "twins, not copies"})
    assert response.status_code == 302
    assert Link.objects.get(a=a, b=b).state == "dismissed"
    assert AuditEntry.objects.filter(action="dismiss", note__contains="twins").exists()


def test_bulk_keeps_the_suggested_image(alice, moderator, upload):
    original = photo(42)
    big = upload(alice, encode(original))
    small = upload(alice, encode(original.resize((320, 240))))
    group = Group.objects.get(kind="duplicate")
    client = signed_in(moderator)
    response = client.post("/moderation/bulk/", {"groups": [group.pk], "action": "hide"})
    assert response.status_code == 302
    big.refresh_from_db()
    small.refresh_from_db()
    assert (big.moderation, small.moderation) == ("visible", "hidden")


def test_bans_page_imports_a_csv_and_toggles_a_bank(moderator):
    client = signed_in(moderator)
    data = ("f" * 64 + ",90,terror,known propaganda\n").encode()
    csv_file = SimpleUploadedFile("x.csv", data)
    response = client.post("/moderation/bans/", {"action": "import", "file": csv_file})
    assert response.status_code == 302
    assert BanEntry.objects.get().bank.name == "terror"
    client.post("/moderation/bans/", {"action": "toggle", "bank": "terror"})
    assert not BanEntry.objects.get().bank.enabled
    page = client.get("/moderation/bans/")
    assert b"terror" in page.content and b"disabled" in page.content
    broken = SimpleUploadedFile("x.csv", b"nope,1")
    bad = client.post("/moderation/bans/", {"action": "import", "file": broken})
    assert bad.status_code == 400
