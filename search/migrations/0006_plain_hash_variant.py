"""The image's own PDQ hash moves from `ingestion.Image` (pdq_hash, pdq_quality) to its
HashVariant of kind "plain", where indexing already kept it beside the other variants: images
hashed before the variants existed get the row. Reversed, the plain rows are copied back onto
the images (and kept: the older code reads them too).

First, on SQLite, the keyword index's triggers on `ingestion_image` come back if a table remake
dropped them: ingestion 0003 adds a NOT NULL column, which SQLite does by remaking the table, and
when it ran after search 0001 (an existing database, or a plan that orders search first, as
ingestion 0005's dependency on this migration does) the triggers were gone."""

from importlib import import_module

from django.db import migrations
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

PLAIN = "plain"  # search.variants.PLAIN, frozen here as migrations must be
BATCH = 2000


def restore_keyword_triggers(apps, schema_editor) -> None:
    """SQLite only (PostgreSQL adds columns in place): recreate missing triggers and, if any was
    missing, rebuild the keyword rows, which missed the writes made meanwhile."""
    if schema_editor.connection.vendor != "sqlite":
        return
    keyword_index = import_module("search.migrations.0001_keyword_index")
    triggers = [sql for sql in keyword_index.SQLITE if sql.startswith("CREATE TRIGGER ")]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
        before = cursor.fetchone()[0]
        for sql in triggers:
            cursor.execute(sql.replace("CREATE TRIGGER ", "CREATE TRIGGER IF NOT EXISTS ", 1))
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
        if cursor.fetchone()[0] == before:
            return
        fill = next(sql for sql in keyword_index.SQLITE if sql.startswith("INSERT INTO search_keywords"))
        cursor.execute("DELETE FROM search_keywords")
        cursor.execute(fill)


def plain_hashes_to_variants(apps, schema_editor) -> None:
    Image = apps.get_model("ingestion", "Image")
    HashVariant = apps.get_model("search", "HashVariant")
    has_plain = HashVariant.objects.filter(kind=PLAIN).values("image_id")
    missing = (
        Image.objects.exclude(pdq_hash="")
        .exclude(pk__in=has_plain)
        .order_by("pk")
        .values_list("pk", "pdq_hash", "pdq_quality")
    )
    rows = [
        HashVariant(image_id=pk, kind=PLAIN, pdq_hash=pdq, quality=quality or 0)
        for pk, pdq, quality in missing.iterator(chunk_size=BATCH)
    ]
    HashVariant.objects.bulk_create(rows, batch_size=BATCH)


def plain_variants_to_images(apps, schema_editor) -> None:
    Image = apps.get_model("ingestion", "Image")
    HashVariant = apps.get_model("search", "HashVariant")
    plain = HashVariant.objects.filter(kind=PLAIN, image_id=OuterRef("pk"))
    Image.objects.update(
        pdq_hash=Coalesce(Subquery(plain.values("pdq_hash")[:1]), Value("")),
        pdq_quality=Subquery(plain.values("quality")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0003_image_trash"),
        ("search", "0004_suggested_labels"),
    ]

    operations = [
        migrations.RunPython(restore_keyword_triggers, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(plain_hashes_to_variants, plain_variants_to_images, elidable=False),
    ]
