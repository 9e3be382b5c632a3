"""The words read in an image now live in search's `OcrRun` (`text`, `boxes`): search writes them.

Runs after search's `0005_ocr_text_on_ocr_run`, which copies them there and moves the keyword
index's triggers off these columns (SQLite refuses to drop a column a trigger names)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0003_image_trash"),
        ("search", "0005_ocr_text_on_ocr_run"),
    ]

    operations = [
        migrations.RemoveField(model_name="image", name="ocr_boxes"),
        migrations.RemoveField(model_name="image", name="ocr_text"),
    ]
