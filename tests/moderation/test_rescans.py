"""Retroactive matching (issue 17, HMA's asks): a new ban or an imported list is matched against
the images already stored, in the background, with progress; a rerun after a crash is safe; a
"not a match" decision (and a dismissed duplicate) never comes back, whichever check runs again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from bench.images import encode, photo
from moderation import detection, rescans, review, tasks
from moderation.models import BanEntry, Group, Link, Rescan
from tests.factories import api_client, make_user, plain_hash, signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_index")]
BANS = "/api/moderation/bans/"
RESCANS = "/api/moderation/rescans/"


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, list]]:
    """The tasks sent to the broker, recorded instead of sent (no worker runs in these tests)."""
    calls: list[tuple[str, list]] = []
    monkeypatch.setattr(rescans.current_app, "send_task", lambda name, args, **kw: calls.append((name, args)))
    return calls


def banned_groups(image) -> list[Group]:
    return list(Group.objects.filter(kind=Group.Kind.BANNED, members__image=image))


def test_a_new_ban_hides_copies_already_stored_in_the_background(
    alice, moderator, upload, sent, django_capture_on_commit_callbacks
):
    picture = photo(101)
    source = upload(alice, encode(picture))
    copy = upload(make_user("bob"), encode(picture.resize((480, 360)), quality=70), visibility="private")
    other = upload(make_user("carol"), encode(photo(102)))
    assert copy.moderation == "visible"  # stored before anything was banned

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(moderator).post(BANS, {"image": source.pk, "category": "spam"}, format="json")
    assert response.status_code == 201, response.content
    job = response.json()["rescan"]
    assert (job["status"], job["total"], job["scanned"], job["matched"]) == ("queued", 3, 0, 0)
    assert job["status_url"].endswith(f"{RESCANS}{job['id']}/")
    assert sent == [(rescans.TASK, [job["id"]])]  # queued after the hashes were published
    copy.refresh_from_db()
    assert copy.moderation == "visible"  # not yet: the worker does it

    assert tasks.rescan_bans(job["id"]) is False  # the worker's task: all of it in one step
    copy.refresh_from_db()
    other.refresh_from_db()
    assert copy.moderation == "hidden" and other.moderation == "visible"
    (group,) = banned_groups(copy)
    assert group.ban == BanEntry.objects.get(image=source) and group.status == Group.Status.OPEN
    done = api_client(moderator).get(job["status_url"]).json()
    assert (done["status"], done["scanned"], done["matched"], done["percent"]) == ("done", 3, 1, 100.0)
    page = signed_in(moderator).get("/moderation/bans/").content.decode()
    assert f'id="rescan-{job["id"]}" data-status="done"' in page
    assert '<span class="rescan-matched">1</span>' in page


def test_an_imported_list_is_matched_against_the_stored_images(
    alice, moderator, upload, sent, django_capture_on_commit_callbacks
):
    stored = upload(alice, encode(photo(103)))
    plain = plain_hash(stored)
    line = f"pdq_hex,quality,bank,reason\n{plain.pdq_hash},{plain.quality},partner,from a partner\n"
    file = SimpleUploadedFile("bans.csv", line.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(moderator).post(f"{BANS}import/", {"file": file}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["imported"], body["skipped"], body["rescan"]["origin"]) == (1, 0, "import")
    assert len(sent) == 1
    tasks.rescan_bans(body["rescan"]["id"])
    stored.refresh_from_db()
    assert stored.moderation == "hidden"
    (group,) = banned_groups(stored)
    assert group.ban.bank.name == "partner" and group.ban_kind == "pdq"
    # Importing the same list again adds nothing, so starts nothing.
    file = SimpleUploadedFile("bans.csv", line.encode(), content_type="text/csv")
    again = api_client(moderator).post(f"{BANS}import/", {"file": file}, format="multipart").json()
    assert (again["imported"], again["rescan"]) == (0, None)


def test_a_rerun_after_a_crash_is_safe_and_one_worker_holds_a_job(
    alice, moderator, upload, sent, monkeypatch
):
    picture = photo(104)
    source = upload(alice, encode(picture))
    copies = [upload(make_user(f"u{n}"), encode(picture, quality=q)) for n, q in enumerate((60, 50))]
    from moderation.bans import ban_image

    entry = ban_image(moderator, source, "")
    job = entry.rescan
    monkeypatch.setattr(rescans, "BATCH", 2)
    assert rescans.run(job.pk, seconds=0) is True  # one batch of two, then the next step
    job.refresh_from_db()
    assert (job.status, job.scanned, job.cursor, job.lease_until) == ("running", 2, copies[0].pk, None)

    # Another delivery while a worker holds the lease does nothing.
    Rescan.objects.filter(pk=job.pk).update(lease_until=timezone.now() + timedelta(minutes=1))
    assert rescans.run(job.pk) is False
    assert Rescan.objects.get(pk=job.pk).cursor == copies[0].pk

    # A crash after the withholding, before the cursor moved: the lease runs out, the sweep queues
    # the job again, and the batch is done twice without queueing anything twice.
    Rescan.objects.filter(pk=job.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1), cursor=0, queued_at=None
    )
    assert rescans.resume() == [job.pk] and sent[-1] == (rescans.TASK, [job.pk])
    assert rescans.resume() == []  # just queued: not again until REQUEUE_AFTER
    assert tasks.rescan_bans(job.pk) is False
    for copy in copies:
        copy.refresh_from_db()
        assert copy.moderation == "hidden" and len(banned_groups(copy)) == 1
    job.refresh_from_db()
    assert (job.status, job.matched, job.error) == ("done", 2, "")
    assert rescans.run(job.pk) is False  # a finished job is never run again


def test_an_unbanned_entry_ends_its_rescan(alice, moderator, upload, sent):
    from moderation.bans import ban_image, delete_entry

    source = upload(alice, encode(photo(105)))
    entry = ban_image(moderator, source, "")
    job = entry.rescan
    delete_entry(moderator, entry)
    assert rescans.run(job.pk) is False
    job.refresh_from_db()
    assert job.status == "done" and job.matched == 0


def test_not_a_match_is_never_asked_again_by_any_check(alice, moderator, upload, sent):
    """The pair (entry, image) a moderator judged "not a match" stays judged: the rescan with
    bans, the indexing check, and a new retroactive run of that entry leave the image alone; the
    entry counts it, on the bank page and in the API."""
    from moderation.bans import ban_image

    picture = photo(106)
    source = upload(alice, encode(picture))
    entry = ban_image(moderator, source, "")
    reupload = upload(make_user("bob"), encode(picture.resize((400, 300)), quality=60))
    (group,) = banned_groups(reupload)
    response = api_client(moderator).post(f"/api/moderation/groups/{group.pk}/dismiss/", {}, format="json")
    assert response.json()["resolution"] == "false_positive"
    reupload.refresh_from_db()
    assert reupload.moderation == "visible"

    call_command("find_duplicates", "--bans", "--quiet")
    detection.check_images([reupload.pk])
    job = rescans.start([entry], moderator, "ban")
    assert rescans.run(job.pk) is False
    reupload.refresh_from_db()
    assert reupload.moderation == "visible"
    assert [g.pk for g in banned_groups(reupload)] == [group.pk]
    assert Rescan.objects.get(pk=job.pk).matched == 0
    entry.refresh_from_db()
    assert entry.false_positives == 1
    assert api_client(moderator).get(f"{BANS}{entry.pk}/").json()["false_positives"] == 1
    page = signed_in(moderator).get("/moderation/bans/").content.decode()
    row = page[page.index(f'id="ban-{entry.pk}"') :]
    assert '<td class="not-a-match">1</td>' in row[: row.index("</tr>")]


def test_a_dismissed_duplicate_stays_dismissed_through_every_rescan(alice, moderator, upload, sent):
    picture = photo(107)
    a = upload(alice, encode(picture))
    b = upload(alice, encode(picture.resize((320, 240))))
    (group,) = Group.objects.filter(kind=Group.Kind.DUPLICATE, status=Group.Status.OPEN)
    review.dismiss(moderator, group, "different photos")
    from moderation.bans import ban_image

    entry = ban_image(moderator, upload(alice, encode(photo(108))), "")  # a retroactive run beside
    rescans.run(entry.rescan_id)
    call_command("find_duplicates", "--bans", "--quiet")
    call_command("find_duplicates", "--quiet")
    assert Link.objects.get(a=a, b=b).state == Link.State.DISMISSED
    assert not Group.objects.filter(kind=Group.Kind.DUPLICATE, status=Group.Status.OPEN).exists()


def test_rescans_are_for_moderators_only(alice, moderator):
    for path in (RESCANS, f"{RESCANS}1/"):
        assert api_client().get(path).status_code == 401
        assert api_client(alice).get(path).status_code == 403
    assert api_client(moderator).get(f"{RESCANS}1/").status_code == 404
    job = Rescan.objects.create(origin="ban", total=5, scanned=2)
    listed = api_client(moderator).get(RESCANS).json()
    assert [r["id"] for r in listed["results"]] == [job.pk] and listed["results"][0]["percent"] == 40.0
