"""Migrations that move search's state off ingestion's `Image`, each tested on a populated
database, forward and back:
- the words read move to search's OcrRun (search 0005, ingestion 0004), and the keyword index
  follows them both ways;
- the image's own PDQ hash moves to its HashVariant of kind "plain" (search 0006, ingestion 0005);
  the keyword index's triggers on `ingestion_image` keep working through both directions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ingestion.models import Image
from search.models import OcrRun
from search.query import keywords
from search.query.query_language import parse
from search.query.service import SearchParams, candidates

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("search", "0004_suggested_labels"), ("ingestion", "0003_image_trash")]
AFTER = [("search", "0005_ocr_text_on_ocr_run"), ("ingestion", "0004_remove_image_ocr")]
# The plain hash's migrations, after the words'.
BEFORE_PLAIN = AFTER
AFTER_PLAIN = [("search", "0006_plain_hash_variant"), ("ingestion", "0005_remove_image_pdq")]
OLD, TWIN = "ab" * 32, "cd" * 32
BOXES = [{"text": "西湖", "box": [[1, 2], [30, 2], [30, 20], [1, 20]], "score": 0.9}]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    try:
        yield
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def keyword_words() -> dict[int, str]:
    """The keyword index's `ocr` column, read directly (the same query in any schema state)."""
    key = "rowid" if connection.vendor == "sqlite" else "image_id"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key}, ocr FROM search_keywords")
        return {int(pk): ocr for pk, ocr in cursor.fetchall()}


def find(q: str) -> list[int]:
    return [h.image_id for h in keywords.search(parse(q), candidates(AnonymousUser(), SearchParams()), 50)]


def test_the_words_move_to_ocr_runs_and_back():
    apps = migrate(BEFORE)
    User = apps.get_model("auth", "User")
    Image_ = apps.get_model("ingestion", "Image")
    OcrRun_ = apps.get_model("search", "OcrRun")
    owner = User.objects.create(username="alice")
    # By id: the owner is another historical model once the schema has moved.
    fields = {"owner_id": owner.pk, "format": "PNG", "size_bytes": 1, "width": 1, "height": 1}
    fields["status"] = "indexed"
    read = Image_.objects.create(
        sha256="a", title="lake", ocr_text="欢迎光临杭州西湖", ocr_boxes=BOXES, **fields
    )
    unmarked = Image_.objects.create(sha256="b", title="menu", ocr_text="今日特价牛肉面条", **fields)
    blank = Image_.objects.create(sha256="c", title="sky", **fields)
    unread = Image_.objects.create(sha256="d", title="grass", **fields)
    OcrRun_.objects.create(image=read, millis=120)
    OcrRun_.objects.create(image=blank, millis=80)  # read, no words found
    assert keyword_words()[read.pk] == "欢迎光临杭州西湖"

    migrate(AFTER)
    runs = {run.image_id: run for run in OcrRun.objects.all()}
    assert set(runs) == {read.pk, unmarked.pk, blank.pk}  # words without a run get one
    assert (runs[read.pk].text, runs[read.pk].boxes, runs[read.pk].millis) == ("欢迎光临杭州西湖", BOXES, 120)
    assert (runs[unmarked.pk].text, runs[unmarked.pk].boxes) == ("今日特价牛肉面条", [])
    assert runs[blank.pk].text == ""
    assert not {"ocr_text", "ocr_boxes"} & {f.name for f in Image._meta.get_fields()}
    # The keyword index finds them by their words, and its triggers now follow the runs.
    assert find("西湖") == [read.pk] and find("牛肉面条") == [unmarked.pk]
    Image.objects.filter(pk=read.pk).update(title="a lake")  # the image trigger keeps the words
    assert find("西湖") == [read.pk] and find("a lake") == [read.pk]
    OcrRun.objects.filter(image_id=unread.pk).delete()
    OcrRun.objects.create(image_id=unread.pk, text="KEEP OFF THE GRASS")
    OcrRun.objects.filter(image_id=blank.pk).update(text="CLOUDS")
    assert find("keep off") == [unread.pk] and find("clouds") == [blank.pk]

    apps = migrate(BEFORE)
    Image_ = apps.get_model("ingestion", "Image")
    back = {i.pk: (i.ocr_text, i.ocr_boxes) for i in Image_.objects.all()}
    assert back == {
        read.pk: ("欢迎光临杭州西湖", BOXES),
        unmarked.pk: ("今日特价牛肉面条", []),
        blank.pk: ("CLOUDS", []),
        unread.pk: ("KEEP OFF THE GRASS", []),
    }
    # The first triggers are back: the image's column feeds the index again.
    Image_.objects.filter(pk=blank.pk).update(ocr_text="RAIN")
    added = Image_.objects.create(sha256="e", title="sign", ocr_text="STOP", **fields)
    ours = {read.pk, unmarked.pk, blank.pk, unread.pk, added.pk}
    # Only this test's rows: PostgreSQL's flush after other transactional tests truncates the
    # images, which fires no row trigger, so their keyword rows may still be there.
    assert {pk: words for pk, words in keyword_words().items() if pk in ours} == {
        read.pk: "欢迎光临杭州西湖",
        unmarked.pk: "今日特价牛肉面条",
        blank.pk: "RAIN",
        unread.pk: "KEEP OFF THE GRASS",
        added.pk: "STOP",
    }
    Image_.objects.filter(pk=added.pk).delete()
    assert added.pk not in keyword_words()

    migrate(AFTER)  # and forward again, over what the old schema wrote
    assert OcrRun.objects.get(image_id=blank.pk).text == "RAIN"
    assert find("rain") == [blank.pk] and find("西湖") == [read.pk]


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
    apps = migrate(BEFORE_PLAIN)
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

    apps = migrate(AFTER_PLAIN)
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

    apps = migrate(BEFORE_PLAIN)
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
    after search 0001, it dropped the keyword triggers. Search 0005 restores them and refills the
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
