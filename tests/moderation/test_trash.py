"""A resolve that deletes moves the images to the trash (issue 17, undo): the owner and moderators
can restore them, the audit records the trash and the restore, and content under a ban hold comes
back only by a moderator's decision."""

from __future__ import annotations

import pytest

from ingestion import trash
from ingestion.models import Image
from moderation import bans
from moderation.models import AuditEntry, Group, GroupMember
from tests.factories import api_client

from .conftest import jpeg

pytestmark = pytest.mark.django_db

GROUPS = "/api/moderation/groups/"


def duplicate_group(*images) -> Group:
    ids = {i.pk for i in images}
    for group in Group.objects.filter(kind="duplicate", status="open"):
        if ids <= set(group.members.values_list("image_id", flat=True)):
            return group
    raise AssertionError(f"no open duplicate group holds {ids}")


def test_a_resolve_that_deletes_trashes_and_both_can_restore(
    alice, moderator, upload, django_capture_on_commit_callbacks
):
    keep = upload(alice, jpeg(31))
    copy = upload(alice, jpeg(31, quality=40), title="my copy", tags=["beach"])
    group = duplicate_group(keep, copy)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(moderator).post(
            f"{GROUPS}{group.pk}/resolve/", {"keep": [keep.pk], "action": "delete"}, format="json"
        )
    assert response.json()["removed"] == [copy.pk]
    trashed = Image.all_objects.get(pk=copy.pk)
    assert trashed.trash_origin == "moderation" and trashed.trashed_by == moderator
    assert not Image.objects.filter(pk=copy.pk).exists()
    trash_entry = AuditEntry.objects.get(action="trash")
    assert (trash_entry.target, trash_entry.moderator) == (f"image {copy.pk}", moderator)

    # The moderator takes it back (a mistaken resolve), audited.
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client(moderator).post(f"/api/images/{copy.pk}/restore/").status_code == 200
    back = Image.objects.get(pk=copy.pk)
    assert (back.title, back.tag_names()) == ("my copy", ["beach"])
    assert AuditEntry.objects.get(action="restore").target == f"image {copy.pk}"

    # Again, and this time the owner restores it: audited too (a moderation removal undone).
    with django_capture_on_commit_callbacks(execute=True):
        trash.move_to_trash([back], moderator, Image.TrashOrigin.MODERATION)
        assert api_client(alice).post(f"/api/images/{copy.pk}/restore/").status_code == 200
    restores = AuditEntry.objects.filter(action="restore").order_by("pk")
    assert [e.moderator_name for e in restores] == ["mod", "alice"]


def test_banned_content_in_the_trash_comes_back_only_by_a_moderator(
    alice, moderator, upload, django_capture_on_commit_callbacks
):
    image = upload(alice, jpeg(32))
    entry = bans.ban_image(moderator, image, "not allowed")
    with django_capture_on_commit_callbacks(execute=True):
        trash.move_to_trash([image], alice)
    owner = api_client(alice)
    listed = owner.get("/api/trash/").json()["results"][0]
    assert listed["restorable"] is False and "ban" in listed["restore_refusal"]
    refused = owner.post(f"/api/images/{image.pk}/restore/")
    assert refused.status_code == 403 and "moderator" in refused.json()["error"]
    assert Image.all_objects.get(pk=image.pk).trashed_at is not None

    # Once the ban is lifted, the owner may; the image comes back shown (its hold went with the ban).
    with django_capture_on_commit_callbacks(execute=True):
        bans.delete_entry(moderator, entry)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(f"/api/images/{image.pk}/restore/").status_code == 200
    assert Image.objects.get(pk=image.pk).moderation == Image.Moderation.VISIBLE


def test_a_moderator_restores_banned_content_still_withheld(
    alice, moderator, upload, django_capture_on_commit_callbacks
):
    image = upload(alice, jpeg(33))
    bans.ban_image(moderator, image, "not allowed")
    with django_capture_on_commit_callbacks(execute=True):
        trash.move_to_trash([image], moderator, Image.TrashOrigin.MODERATION)
        assert api_client(moderator).post(f"/api/images/{image.pk}/restore/").status_code == 200
    assert Image.objects.get(pk=image.pk).moderation == Image.Moderation.HIDDEN


def test_trashing_an_image_takes_it_out_of_the_open_queue(
    alice, moderator, upload, django_capture_on_commit_callbacks
):
    first = upload(alice, jpeg(34))
    second = upload(alice, jpeg(34, quality=40))
    group = duplicate_group(first, second)
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client(alice).delete(f"/api/images/{second.pk}/").status_code == 204
    group.refresh_from_db()
    assert not GroupMember.objects.filter(group=group, image_id=second.pk).exists()
    assert (group.status, group.resolution, group.size) == ("resolved", "trashed", 1)
    # An owner deleting their own image is no moderation action.
    assert not AuditEntry.objects.filter(action="trash").exists()


def test_moderators_delete_forever_only_what_moderation_trashed_audited(
    alice, moderator, upload, django_capture_on_commit_callbacks
):
    removed = upload(alice, jpeg(35))
    own = upload(alice, jpeg(36))
    with django_capture_on_commit_callbacks(execute=True):
        trash.move_to_trash([removed], moderator, Image.TrashOrigin.MODERATION)
        trash.move_to_trash([own], alice)
    mod = api_client(moderator)
    assert mod.delete(f"/api/trash/{own.pk}/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert mod.delete(f"/api/trash/{removed.pk}/").status_code == 204
    assert not Image.all_objects.filter(pk=removed.pk).exists()
    assert AuditEntry.objects.get(action="delete_forever").target == f"image {removed.pk}"
