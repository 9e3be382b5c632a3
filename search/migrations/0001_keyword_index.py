"""The keyword index (title, tags, original filename, OCR text) kept in the database by triggers,
so admin edits, tag renames and bulk updates reach it too; and the OCR bookkeeping.

SQLite: an FTS5 table with the trigram tokenizer (substrings and Chinese without spaces).
PostgreSQL: a plain table with pg_trgm GIN indexes (ILIKE substrings) and a `simple` tsvector.
Both are rebuilt from the images by `search.query.keywords.rebuild()`."""

import django.db.models.deletion
from django.db import migrations, models

TAGS_OF = (
    "(SELECT COALESCE(group_concat(t.name, ', '), '') FROM ingestion_image_tags it "
    "JOIN ingestion_tag t ON t.id = it.tag_id WHERE it.image_id = {id})"
)

SQLITE = [
    "CREATE VIRTUAL TABLE search_keywords USING fts5(title, tags, filename, ocr, tokenize='trigram')",
    "INSERT INTO search_keywords(rowid, title, tags, filename, ocr) "
    f"SELECT i.id, i.title, {TAGS_OF.format(id='i.id')}, i.original_filename, i.ocr_text "
    "FROM ingestion_image i",
    "CREATE TRIGGER search_keywords_image_ai AFTER INSERT ON ingestion_image BEGIN "
    "DELETE FROM search_keywords WHERE rowid = new.id; "
    "INSERT INTO search_keywords(rowid, title, tags, filename, ocr) "
    f"VALUES (new.id, new.title, {TAGS_OF.format(id='new.id')}, new.original_filename, new.ocr_text); END",
    "CREATE TRIGGER search_keywords_image_au AFTER UPDATE OF title, original_filename, ocr_text "
    "ON ingestion_image BEGIN UPDATE search_keywords SET title = new.title, "
    "filename = new.original_filename, ocr = new.ocr_text WHERE rowid = new.id; END",
    "CREATE TRIGGER search_keywords_image_ad AFTER DELETE ON ingestion_image BEGIN "
    "DELETE FROM search_keywords WHERE rowid = old.id; END",
    "CREATE TRIGGER search_keywords_tags_ai AFTER INSERT ON ingestion_image_tags BEGIN "
    f"UPDATE search_keywords SET tags = {TAGS_OF.format(id='new.image_id')} WHERE rowid = new.image_id; END",
    "CREATE TRIGGER search_keywords_tags_ad AFTER DELETE ON ingestion_image_tags BEGIN "
    f"UPDATE search_keywords SET tags = {TAGS_OF.format(id='old.image_id')} WHERE rowid = old.image_id; END",
    "CREATE TRIGGER search_keywords_tag_au AFTER UPDATE OF name ON ingestion_tag BEGIN "
    f"UPDATE search_keywords SET tags = {TAGS_OF.format(id='search_keywords.rowid')} "
    "WHERE rowid IN (SELECT image_id FROM ingestion_image_tags WHERE tag_id = new.id); END",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS search_keywords_tag_au",
    "DROP TRIGGER IF EXISTS search_keywords_tags_ad",
    "DROP TRIGGER IF EXISTS search_keywords_tags_ai",
    "DROP TRIGGER IF EXISTS search_keywords_image_ad",
    "DROP TRIGGER IF EXISTS search_keywords_image_au",
    "DROP TRIGGER IF EXISTS search_keywords_image_ai",
    "DROP TABLE IF EXISTS search_keywords",
]

PG_TAGS_OF = (
    "(SELECT COALESCE(string_agg(t.name, ', ' ORDER BY t.name), '') FROM ingestion_image_tags it "
    "JOIN ingestion_tag t ON t.id = it.tag_id WHERE it.image_id = {id})"
)
POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # No foreign key: Django's test flush truncates ingestion_image without CASCADE; triggers
    # delete rows, and an id that comes back is upserted.
    "CREATE TABLE search_keywords (image_id bigint PRIMARY KEY, title text NOT NULL DEFAULT '', "
    "tags text NOT NULL DEFAULT '', filename text NOT NULL DEFAULT '', ocr text NOT NULL DEFAULT '', "
    "document tsvector GENERATED ALWAYS AS (to_tsvector('simple', "
    "title || ' ' || tags || ' ' || filename || ' ' || ocr)) STORED)",
    "CREATE INDEX search_keywords_title_trgm ON search_keywords USING gin (title gin_trgm_ops)",
    "CREATE INDEX search_keywords_tags_trgm ON search_keywords USING gin (tags gin_trgm_ops)",
    "CREATE INDEX search_keywords_filename_trgm ON search_keywords USING gin (filename gin_trgm_ops)",
    "CREATE INDEX search_keywords_ocr_trgm ON search_keywords USING gin (ocr gin_trgm_ops)",
    "CREATE INDEX search_keywords_document ON search_keywords USING gin (document)",
    "INSERT INTO search_keywords (image_id, title, tags, filename, ocr) "
    f"SELECT i.id, i.title, {PG_TAGS_OF.format(id='i.id')}, i.original_filename, i.ocr_text "
    "FROM ingestion_image i",
    f"""CREATE FUNCTION search_keywords_image() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM search_keywords WHERE image_id = OLD.id;
    RETURN OLD;
  END IF;
  INSERT INTO search_keywords (image_id, title, tags, filename, ocr)
  VALUES (NEW.id, NEW.title, {PG_TAGS_OF.format(id="NEW.id")}, NEW.original_filename, NEW.ocr_text)
  ON CONFLICT (image_id) DO UPDATE SET title = EXCLUDED.title, tags = EXCLUDED.tags,
    filename = EXCLUDED.filename, ocr = EXCLUDED.ocr;
  RETURN NEW;
END $$""",
    "CREATE TRIGGER search_keywords_image AFTER INSERT OR DELETE OR UPDATE OF title, original_filename, "
    "ocr_text ON ingestion_image FOR EACH ROW EXECUTE FUNCTION search_keywords_image()",
    f"""CREATE FUNCTION search_keywords_image_tags() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE target bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN target := OLD.image_id; ELSE target := NEW.image_id; END IF;
  UPDATE search_keywords SET tags = {PG_TAGS_OF.format(id="target")} WHERE image_id = target;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER search_keywords_image_tags AFTER INSERT OR DELETE ON ingestion_image_tags "
    "FOR EACH ROW EXECUTE FUNCTION search_keywords_image_tags()",
    f"""CREATE FUNCTION search_keywords_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE search_keywords k SET tags = {PG_TAGS_OF.format(id="k.image_id")}
  WHERE k.image_id IN (SELECT image_id FROM ingestion_image_tags WHERE tag_id = NEW.id);
  RETURN NULL;
END $$""",
    "CREATE TRIGGER search_keywords_tag AFTER UPDATE OF name ON ingestion_tag "
    "FOR EACH ROW EXECUTE FUNCTION search_keywords_tag()",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS search_keywords_tag ON ingestion_tag",
    "DROP TRIGGER IF EXISTS search_keywords_image_tags ON ingestion_image_tags",
    "DROP TRIGGER IF EXISTS search_keywords_image ON ingestion_image",
    "DROP FUNCTION IF EXISTS search_keywords_tag()",
    "DROP FUNCTION IF EXISTS search_keywords_image_tags()",
    "DROP FUNCTION IF EXISTS search_keywords_image()",
    "DROP TABLE IF EXISTS search_keywords",
]


def forwards(apps, schema_editor):
    statements = {"sqlite": SQLITE, "postgresql": POSTGRES}.get(schema_editor.connection.vendor)
    if statements is None:
        raise RuntimeError(f"No keyword index for database '{schema_editor.connection.vendor}'.")
    for sql in statements:
        schema_editor.execute(sql, params=None)


def backwards(apps, schema_editor):
    for sql in {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}[schema_editor.connection.vendor]:
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    initial = True

    dependencies = [("ingestion", "0002_ocr_and_moderation")]

    operations = [
        migrations.CreateModel(
            name="OcrRun",
            fields=[
                (
                    "image",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="ocr_run",
                        serialize=False,
                        to="ingestion.image",
                    ),
                ),
                ("done_at", models.DateTimeField(auto_now=True)),
                ("millis", models.PositiveIntegerField(default=0)),
                ("error", models.TextField(blank=True)),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
