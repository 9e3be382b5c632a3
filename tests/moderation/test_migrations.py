"""The hold migration: images hidden before holds existed get the holds that explain them, and the
reason their owner reads no longer quotes a moderator's internal note."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("moderation", "0001_initial")]
AFTER = [("moderation", "0002_holds_and_ban_categories")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    # Images keep today's table (ingestion depends on no moderation migration): rows made through
    # an older Image model would miss columns added since, NOT NULL ones included (trash_origin).
    targets = [*targets, *(n for n in executor.loader.graph.leaf_nodes() if n[0] == "ingestion")]
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_hidden_images_get_their_holds_and_lose_the_leaked_note():
    apps = migrate(BEFORE)
    User = apps.get_model("auth", "User")
    Image = apps.get_model("ingestion", "Image")
    Bank = apps.get_model("moderation", "Bank")
    BanEntry = apps.get_model("moderation", "BanEntry")
    Group = apps.get_model("moderation", "Group")
    GroupMember = apps.get_model("moderation", "GroupMember")
    owner = User.objects.create(username="alice")
    fields = {"owner": owner, "format": "PNG", "size_bytes": 1, "width": 1, "height": 1}
    banned = Image.objects.create(
        sha256="a",
        moderation="hidden",
        moderation_reason="Withheld by a moderator: reported by carol",
        **fields,
    )
    match = Image.objects.create(
        sha256="b",
        moderation="hidden",
        moderation_reason="Withheld: it matches (x: reported by carol)",
        **fields,
    )
    decided = Image.objects.create(
        sha256="c", moderation="hidden", moderation_reason="Hidden by a moderator", **fields
    )
    shown = Image.objects.create(sha256="d", **fields)
    entry = BanEntry.objects.create(
        bank=Bank.objects.create(name="x"), image=banned, reason="reported by carol"
    )
    group = Group.objects.create(kind="banned", ban=entry, size=1)
    GroupMember.objects.create(group=group, image=match)

    apps = migrate(AFTER)
    Hold = apps.get_model("moderation", "Hold")
    Image = apps.get_model("ingestion", "Image")
    assert list(Hold.objects.filter(image_id=banned.pk).values_list("cause", "ban_id")) == [("ban", entry.pk)]
    assert list(Hold.objects.filter(image_id=match.pk).values_list("cause", "ban_id", "group_id")) == [
        ("ban", entry.pk, group.pk)
    ]
    assert list(Hold.objects.filter(image_id=decided.pk).values_list("cause", flat=True)) == ["decision"]
    assert not Hold.objects.filter(image_id=shown.pk).exists()
    for image in Image.objects.filter(moderation="hidden"):
        assert "carol" not in image.moderation_reason and image.moderation_reason
    migrate(
        [
            (
                "moderation",
                max(
                    n
                    for app, n in MigrationExecutor(connection).loader.graph.leaf_nodes()
                    if app == "moderation"
                ),
            )
        ]
    )
