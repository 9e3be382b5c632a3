"""The image's vector left for `search.ModelEmbedding` (search.0007_vectors_in_model_embedding
moved the data first): the two columns go.

SQLite: dropping these columns is a plain ALTER TABLE, but adding `embedding_model` back (NOT NULL
with a default) would make Django rebuild the table, which silently drops the keyword triggers of
search.0001 on `ingestion_image`. So the columns come back with plain ALTER TABLE ADD COLUMN there;
the state is the same RemoveField either way."""

from django.db import migrations

SQLITE_ADD_BACK = [
    "ALTER TABLE ingestion_image ADD COLUMN embedding BLOB NULL",
    "ALTER TABLE ingestion_image ADD COLUMN embedding_model varchar(255) NOT NULL DEFAULT ''",
]
FIELDS = ["embedding", "embedding_model"]


def drop_columns(apps, schema_editor):
    Image = apps.get_model("ingestion", "Image")
    for name in FIELDS:
        schema_editor.remove_field(Image, Image._meta.get_field(name))


def add_columns_back(apps, schema_editor):
    Image = apps.get_model("ingestion", "Image")
    if schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_ADD_BACK:
            schema_editor.execute(statement)
        return
    for name in FIELDS:
        schema_editor.add_field(Image, Image._meta.get_field(name))


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0005_remove_image_pdq"),
        ("search", "0007_vectors_in_model_embedding"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_columns, add_columns_back)],
            state_operations=[migrations.RemoveField("image", name) for name in FIELDS],
        ),
    ]
