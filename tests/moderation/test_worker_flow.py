"""Through the real services: uploads through the API, indexed by the real ingest worker, whose
`image_indexed` signal runs moderation's checks in the worker process."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ImageOps

from bench.images import encode, photo
from moderation.models import Group
from tests.factories import api_client

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def post(client, data: bytes, name: str) -> int:
    response = client.post(
        "/api/images/", {"file": SimpleUploadedFile(name, data, "image/jpeg")}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def wait_for(check, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_the_worker_groups_copies_and_hides_a_banned_reupload(workers, clean_index, alice, moderator):
    owner, mod = api_client(alice), api_client(moderator)
    original = photo(51)
    first = post(owner, encode(original), "a.jpg")
    mirrored = post(owner, encode(ImageOps.mirror(original)), "b.jpg")
    group = wait_for(lambda: mod.get("/api/moderation/groups/", {"kind": "duplicate"}).json()["results"])
    assert {i["id"] for i in group[0]["images"]} == {first, mirrored}

    banned = photo(52)
    source = post(owner, encode(banned), "c.jpg")
    wait_for(lambda: owner.get(f"/api/images/{source}/").json()["status"] == "indexed")
    assert mod.post("/api/moderation/bans/", {"image": source, "reason": "spam"}).status_code == 201
    again = post(owner, encode(banned.resize((400, 300))), "d.jpg")
    wait_for(lambda: Group.objects.filter(kind="banned", members__image_id=again).exists())
    assert owner.get(f"/api/images/{again}/").json()["moderation"] == "hidden"
    assert api_client().get(f"/api/images/{again}/").status_code == 404


def test_a_new_ban_is_matched_retroactively_by_the_ingest_worker(workers, clean_index, alice, moderator):
    """The rescan task is routed to the ingest queue and found by the worker (autodiscovered): a
    copy stored before the ban is hidden, and the job's status URL says so."""
    owner, mod = api_client(alice), api_client(moderator)
    banned = photo(53)
    source = post(owner, encode(banned), "e.jpg")
    copy = post(owner, encode(banned.resize((480, 360)), quality=70), "f.jpg")
    for pk in (source, copy):
        wait_for(lambda pk=pk: owner.get(f"/api/images/{pk}/").json()["status"] == "indexed")
    assert owner.get(f"/api/images/{copy}/").json()["moderation"] == "visible"
    response = mod.post("/api/moderation/bans/", {"image": source, "reason": "spam"})
    assert response.status_code == 201, response.content
    status_url = response.json()["rescan"]["status_url"]
    job = wait_for(lambda: (body := mod.get(status_url).json())["status"] == "done" and body)
    assert (job["scanned"], job["matched"]) == (2, 1)
    assert owner.get(f"/api/images/{copy}/").json()["moderation"] == "hidden"
