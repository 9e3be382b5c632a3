"""The words read move from ingestion's Image to search's OcrRun (search 0005, ingestion 0004) and
back, on a populated database; the keyword index follows them both ways."""

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
BOXES = [{"text": "西湖", "box": [[1, 2], [30, 2], [30, 20], [1, 20]], "score": 0.9}]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    try:
        yield
    finally:
        executor = MigrationExecutor(connection)
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
    assert keyword_words() == {
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
