"""The image's PDQ hash lives in search's HashVariant rows of kind "plain" (search 0006 moved it):
ingestion keeps no copy.

In SQL rather than RemoveField: SQLite drops and adds these columns in place, whereas Django's
reverse (AddField of a NOT NULL column) would remake the table, silently dropping the keyword
index's triggers on it (search 0001). No trigger reads these columns and neither is indexed, so
both databases take the same statements."""

from django.db import migrations

TABLE = "ingestion_image"


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0004_remove_image_ocr"),
        ("search", "0006_plain_hash_variant"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE {TABLE} DROP COLUMN pdq_hash",
                    f"ALTER TABLE {TABLE} ADD COLUMN pdq_hash varchar(64) NOT NULL DEFAULT ''",
                ),
                migrations.RunSQL(
                    f"ALTER TABLE {TABLE} DROP COLUMN pdq_quality",
                    f"ALTER TABLE {TABLE} ADD COLUMN pdq_quality smallint NULL",
                ),
            ],
            state_operations=[
                migrations.RemoveField(model_name="image", name="pdq_hash"),
                migrations.RemoveField(model_name="image", name="pdq_quality"),
            ],
        ),
    ]
