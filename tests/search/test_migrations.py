"""The plain hash migration: an image's own PDQ hash moves from `Image.pdq_hash`/`pdq_quality` to
its HashVariant of kind "plain" (search 0006), the columns go (ingestion 0005), and back; the
keyword index's triggers on `ingestion_image` keep working through both directions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("search", "0004_suggested_labels"), ("ingestion", "0003_image_trash")]
AFTER = [("search", "0006_plain_hash_variant"), ("ingestion", "0005_remove_image_pdq")]
OLD, TWIN = "ab" * 32, "cd" * 32


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def image_columns() -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, "ingestion_image")}


def keyword_titles() -> dict[int, str]:
    """The keyword index's rows, as the triggers left them."""
    key = "rowid" if connection.vendor == "sqlite" else "image_id"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key}, title FROM search_keywords")
        return dict(cursor.fetchall())


def assert_keyword_triggers_work(apps, owner_id: int, title: str) -> None:
    """A new row and an edited title both reach the keyword index."""
    Image = apps.get_model("ingestion", "Image")
    fields = {"owner_id": owner_id, "format": "PNG", "size_bytes": 1, "width": 1, "height": 1}
    added = Image.objects.create(sha256=title, title=title, **fields)
    assert keyword_titles()[added.pk] == title
    Image.objects.filter(pk=added.pk).update(title=f"{title} again")
    assert keyword_titles()[added.pk] == f"{title} again"


def test_plain_hashes_move_to_variants_and_back():
    apps = migrate(BEFORE)
    User = apps.get_model("auth", "User")
    Image = apps.get_model("ingestion", "Image")
    HashVariant = apps.get_model("search", "HashVariant")
    owner = User.objects.create(username="alice")
    fields = {"owner": owner, "format": "PNG", "size_bytes": 1, "width": 1, "height": 1}
    # Hashed before the variants existed: the hash is on the image only.
    old = Image.objects.create(sha256="a", pdq_hash=OLD, pdq_quality=90, **fields)
    # Hashed since: indexing kept the plain hash both on the image and as a variant.
    twin = Image.objects.create(sha256="b", pdq_hash=TWIN, pdq_quality=70, **fields)
    HashVariant.objects.create(image=twin, kind="plain", pdq_hash=TWIN, quality=70)
    HashVariant.objects.create(image=twin, kind="trim", pdq_hash="ef" * 32, quality=60)
    weak = Image.objects.create(sha256="c", pdq_hash="01" * 32, pdq_quality=None, **fields)
    pending = Image.objects.create(sha256="d", **fields)

    apps = migrate(AFTER)
    HashVariant = apps.get_model("search", "HashVariant")
    plain = {
        image_id: (pdq, quality)
        for image_id, pdq, quality in HashVariant.objects.filter(kind="plain").values_list(
            "image_id", "pdq_hash", "quality"
        )
    }
    assert plain == {old.pk: (OLD, 90), twin.pk: (TWIN, 70), weak.pk: ("01" * 32, 0)}
    assert HashVariant.objects.filter(image_id=twin.pk).count() == 2  # nothing else touched
    assert not {"pdq_hash", "pdq_quality"} & image_columns()
    assert_keyword_triggers_work(apps, owner.pk, "harbour")

    apps = migrate(BEFORE)
    Image = apps.get_model("ingestion", "Image")
    back = {
        pk: (pdq, quality) for pk, pdq, quality in Image.objects.values_list("pk", "pdq_hash", "pdq_quality")
    }
    assert back[old.pk] == (OLD, 90) and back[twin.pk] == (TWIN, 70) and back[weak.pk] == ("01" * 32, 0)
    assert back[pending.pk] == ("", None)
    # The plain rows stay: the code before this migration reads them too.
    assert apps.get_model("search", "HashVariant").objects.filter(kind="plain").count() == 3
    assert_keyword_triggers_work(apps, owner.pk, "lighthouse")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="only SQLite remakes a table to add a column")
def test_keyword_triggers_a_table_remake_dropped_come_back():
    """ingestion 0003 adds a NOT NULL column, which SQLite does by remaking `ingestion_image`: run
    after search 0001, it dropped the keyword triggers. Search 0006 restores them and refills the
    index, which missed the writes made meanwhile."""
    apps = migrate(BEFORE)
    with connection.cursor() as cursor:
        for name in ("search_keywords_image_ai", "search_keywords_image_au", "search_keywords_image_ad"):
            cursor.execute(f"DROP TRIGGER {name}")
    User = apps.get_model("auth", "User")
    Image = apps.get_model("ingestion", "Image")
    owner = User.objects.create(username="alice")
    fields = {"owner": owner, "format": "PNG", "size_bytes": 1, "width": 1, "height": 1}
    unseen = Image.objects.create(sha256="a", title="harbour", **fields)
    assert unseen.pk not in keyword_titles()

    apps = migrate(AFTER)

    assert keyword_titles()[unseen.pk] == "harbour"
    assert_keyword_triggers_work(apps, owner.pk, "lighthouse")
