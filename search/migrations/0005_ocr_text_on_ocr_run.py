"""The words read in an image move from ingestion's `Image` (`ocr_text`, `ocr_boxes`) to search's
`OcrRun` (`text`, `boxes`): search writes them, so search keeps them.

1. `OcrRun` gains `text` and `boxes`.
2. The words are copied over; an image with words but no run (read before runs existed) gets one.
   Backwards, they are copied back to the image; the runs stay (they still say "read").
3. The keyword index's `ocr` column follows `search_ocrrun` by triggers of its own, and the image
   triggers stop reading `ocr_text`, so that ingestion's next migration can drop the column (SQLite
   refuses to drop a column a trigger names; PostgreSQL, one an `UPDATE OF` trigger watches).
   Backwards, the triggers of `0001_keyword_index` come back. Every image trigger is (re)created
   both ways: SQLite drops all of a table's triggers when Django remakes it, as re-adding
   `ocr_text` does. So did ingestion 0003 (a NOT NULL column) on a SQLite database that had
   applied search 0001 before it: where a trigger was missing, the keyword rows missed the writes
   made meanwhile, and are filled again from the tables."""

from collections.abc import Iterator

from django.db import migrations, models
from django.db.models import QuerySet

BATCH = 1000

# ------------------------------------------------------------------------------------ SQLite

TAGS_OF = (
    "(SELECT COALESCE(group_concat(t.name, ', '), '') FROM ingestion_image_tags it "
    "JOIN ingestion_tag t ON t.id = it.tag_id WHERE it.image_id = {id})"
)
OCR_OF = "COALESCE((SELECT r.text FROM search_ocrrun r WHERE r.image_id = {id}), '')"

SQLITE_IMAGE_TRIGGERS = ("search_keywords_image_ai", "search_keywords_image_au", "search_keywords_image_ad")
SQLITE_DROP_IMAGE_TRIGGERS = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_IMAGE_TRIGGERS]
SQLITE_IMAGE_AD = (
    "CREATE TRIGGER search_keywords_image_ad AFTER DELETE ON ingestion_image BEGIN "
    "DELETE FROM search_keywords WHERE rowid = old.id; END"
)
SQLITE = [
    *SQLITE_DROP_IMAGE_TRIGGERS,
    "CREATE TRIGGER search_keywords_image_ai AFTER INSERT ON ingestion_image BEGIN "
    "DELETE FROM search_keywords WHERE rowid = new.id; "
    "INSERT INTO search_keywords(rowid, title, tags, filename, ocr) "
    f"VALUES (new.id, new.title, {TAGS_OF.format(id='new.id')}, new.original_filename, "
    f"{OCR_OF.format(id='new.id')}); END",
    "CREATE TRIGGER search_keywords_image_au AFTER UPDATE OF title, original_filename "
    "ON ingestion_image BEGIN UPDATE search_keywords SET title = new.title, "
    "filename = new.original_filename WHERE rowid = new.id; END",
    SQLITE_IMAGE_AD,
    "CREATE TRIGGER search_keywords_ocr_ai AFTER INSERT ON search_ocrrun BEGIN "
    "UPDATE search_keywords SET ocr = new.text WHERE rowid = new.image_id; END",
    "CREATE TRIGGER search_keywords_ocr_au AFTER UPDATE OF text ON search_ocrrun BEGIN "
    "UPDATE search_keywords SET ocr = new.text WHERE rowid = new.image_id; END",
    "CREATE TRIGGER search_keywords_ocr_ad AFTER DELETE ON search_ocrrun BEGIN "
    "UPDATE search_keywords SET ocr = '' WHERE rowid = old.image_id; END",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS search_keywords_ocr_ad",
    "DROP TRIGGER IF EXISTS search_keywords_ocr_au",
    "DROP TRIGGER IF EXISTS search_keywords_ocr_ai",
    *SQLITE_DROP_IMAGE_TRIGGERS,
    # 0001_keyword_index's image triggers.
    "CREATE TRIGGER search_keywords_image_ai AFTER INSERT ON ingestion_image BEGIN "
    "DELETE FROM search_keywords WHERE rowid = new.id; "
    "INSERT INTO search_keywords(rowid, title, tags, filename, ocr) "
    f"VALUES (new.id, new.title, {TAGS_OF.format(id='new.id')}, new.original_filename, new.ocr_text); END",
    "CREATE TRIGGER search_keywords_image_au AFTER UPDATE OF title, original_filename, ocr_text "
    "ON ingestion_image BEGIN UPDATE search_keywords SET title = new.title, "
    "filename = new.original_filename, ocr = new.ocr_text WHERE rowid = new.id; END",
    SQLITE_IMAGE_AD,
]

# -------------------------------------------------------------------------------- PostgreSQL

PG_TAGS_OF = (
    "(SELECT COALESCE(string_agg(t.name, ', ' ORDER BY t.name), '') FROM ingestion_image_tags it "
    "JOIN ingestion_tag t ON t.id = it.tag_id WHERE it.image_id = {id})"
)


def _pg_image_function(ocr: str) -> str:
    """0001's function on `ingestion_image`, with `ocr` the expression of the image's words."""
    return f"""CREATE OR REPLACE FUNCTION search_keywords_image() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM search_keywords WHERE image_id = OLD.id;
    RETURN OLD;
  END IF;
  INSERT INTO search_keywords (image_id, title, tags, filename, ocr)
  VALUES (NEW.id, NEW.title, {PG_TAGS_OF.format(id="NEW.id")}, NEW.original_filename, {ocr})
  ON CONFLICT (image_id) DO UPDATE SET title = EXCLUDED.title, tags = EXCLUDED.tags,
    filename = EXCLUDED.filename, ocr = EXCLUDED.ocr;
  RETURN NEW;
END $$"""


PG_DROP_IMAGE_TRIGGER = "DROP TRIGGER IF EXISTS search_keywords_image ON ingestion_image"
POSTGRES = [
    PG_DROP_IMAGE_TRIGGER,
    _pg_image_function(OCR_OF.format(id="NEW.id")),
    "CREATE TRIGGER search_keywords_image AFTER INSERT OR DELETE OR UPDATE OF title, original_filename "
    "ON ingestion_image FOR EACH ROW EXECUTE FUNCTION search_keywords_image()",
    """CREATE FUNCTION search_keywords_ocr() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    UPDATE search_keywords SET ocr = '' WHERE image_id = OLD.image_id;
    RETURN OLD;
  END IF;
  UPDATE search_keywords SET ocr = NEW.text WHERE image_id = NEW.image_id;
  RETURN NEW;
END $$""",
    "CREATE TRIGGER search_keywords_ocr AFTER INSERT OR DELETE OR UPDATE OF text ON search_ocrrun "
    "FOR EACH ROW EXECUTE FUNCTION search_keywords_ocr()",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS search_keywords_ocr ON search_ocrrun",
    "DROP FUNCTION IF EXISTS search_keywords_ocr()",
    PG_DROP_IMAGE_TRIGGER,
    # 0001_keyword_index's image trigger.
    _pg_image_function("NEW.ocr_text"),
    "CREATE TRIGGER search_keywords_image AFTER INSERT OR DELETE OR UPDATE OF title, original_filename, "
    "ocr_text ON ingestion_image FOR EACH ROW EXECUTE FUNCTION search_keywords_image()",
]


def _run(schema_editor, statements: dict[str, list[str]]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in statements:
        raise RuntimeError(f"No keyword index for database '{vendor}'.")
    for sql in statements[vendor]:
        schema_editor.execute(sql, params=None)


SQLITE_FILL = [
    "DELETE FROM search_keywords",
    "INSERT INTO search_keywords(rowid, title, tags, filename, ocr) "
    f"SELECT i.id, i.title, {TAGS_OF.format(id='i.id')}, i.original_filename, {OCR_OF.format(id='i.id')} "
    "FROM ingestion_image i",
]


def _sqlite_image_triggers(schema_editor) -> int:
    names = ", ".join(f"'{name}'" for name in SQLITE_IMAGE_TRIGGERS)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({names})")
        return cursor.fetchone()[0]


def triggers_follow_runs(apps, schema_editor) -> None:
    lost = schema_editor.connection.vendor == "sqlite" and _sqlite_image_triggers(schema_editor) < 3
    _run(schema_editor, {"sqlite": SQLITE + (SQLITE_FILL if lost else []), "postgresql": POSTGRES})


def triggers_follow_images(apps, schema_editor) -> None:
    _run(schema_editor, {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE})


# ------------------------------------------------------------------------------------- data


def in_batches(rows: QuerySet, *fields: str) -> Iterator[list[tuple]]:
    """`fields` of `rows`, a batch at a time; the keys are read first, so the writes between two
    batches never move under an open cursor."""
    keys = list(rows.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(keys), BATCH):
        yield list(
            rows.model._base_manager.using(rows.db)
            .filter(pk__in=keys[start : start + BATCH])
            .values_list(*fields)
        )


def words_to_runs(apps, schema_editor) -> None:
    Image = apps.get_model("ingestion", "Image")
    OcrRun = apps.get_model("search", "OcrRun")
    db = schema_editor.connection.alias
    images = Image._base_manager.using(db)  # the trash too
    runs = OcrRun._base_manager.using(db)
    for rows in in_batches(images.filter(ocr_run__isnull=False), "pk", "ocr_text", "ocr_boxes"):
        runs.bulk_update(
            [OcrRun(image_id=pk, text=text, boxes=boxes) for pk, text, boxes in rows], ["text", "boxes"]
        )
    # Words without a run: read before runs existed. Their run says so, as reading would.
    unmarked = images.filter(ocr_run__isnull=True).exclude(ocr_text="")
    for rows in in_batches(unmarked, "pk", "ocr_text", "ocr_boxes"):
        runs.bulk_create([OcrRun(image_id=pk, text=text, boxes=boxes) for pk, text, boxes in rows])


def words_to_images(apps, schema_editor) -> None:
    Image = apps.get_model("ingestion", "Image")
    OcrRun = apps.get_model("search", "OcrRun")
    db = schema_editor.connection.alias
    images = Image._base_manager.using(db)
    for rows in in_batches(OcrRun._base_manager.using(db).all(), "image_id", "text", "boxes"):
        images.bulk_update(
            [Image(pk=pk, ocr_text=text, ocr_boxes=boxes) for pk, text, boxes in rows],
            ["ocr_text", "ocr_boxes"],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0003_image_trash"),
        ("search", "0004_suggested_labels"),
    ]

    operations = [
        migrations.AddField(model_name="ocrrun", name="text", field=models.TextField(blank=True)),
        migrations.AddField(
            model_name="ocrrun", name="boxes", field=models.JSONField(blank=True, default=list)
        ),
        migrations.RunPython(words_to_runs, words_to_images),
        migrations.RunPython(triggers_follow_runs, triggers_follow_images),
    ]
