"""Every image vector moves into `ModelEmbedding` (issue 18: search owns the state it writes).

Forwards: each `Image.embedding` becomes the image's ModelEmbedding row of `Image.embedding_model`,
unless the image already has one for that model (then the row wins: the two are written together).
`ingestion.0006_remove_image_embedding` then drops the two columns.

Backwards (the old layout kept the vector the image answers with in `Image.embedding`, and only
the other models' vectors as rows): each image's row of the active model (the switch row's
`active` while CLIP_MODEL is still the one it was written under, else CLIP_MODEL, as
`search.pipeline.switching.active_model_id` decides), or, failing that, its most recent row (the
highest id), moves back into `Image.embedding` and leaves ModelEmbedding; every other row stays."""

from django.conf import settings
from django.db import migrations

BATCH = 500


def _active_model(apps) -> str:
    row = apps.get_model("search", "ModelSwitch").objects.filter(pk=1).first()
    if row and row.active and row.configured == settings.CLIP_MODEL:
        return row.active
    return settings.CLIP_MODEL


def forwards(apps, schema_editor):
    Image = apps.get_model("ingestion", "Image")
    ModelEmbedding = apps.get_model("search", "ModelEmbedding")
    images = (
        Image._base_manager.exclude(embedding=None)
        .exclude(embedding_model="")
        .order_by("pk")
        .values_list("pk", "embedding_model", "embedding")
    )
    rows = []
    for pk, model_id, vector in images.iterator(chunk_size=BATCH):
        rows.append(ModelEmbedding(image_id=pk, model_id=model_id, vector=bytes(vector)))
        if len(rows) == BATCH:
            ModelEmbedding.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    ModelEmbedding.objects.bulk_create(rows, ignore_conflicts=True)


def backwards(apps, schema_editor):
    Image = apps.get_model("ingestion", "Image")
    ModelEmbedding = apps.get_model("search", "ModelEmbedding")
    active = _active_model(apps)
    chosen: dict[int, tuple[int, str]] = {}  # image id -> (row id, model) of the row going back
    for row_id, image_id, model_id in ModelEmbedding.objects.order_by("pk").values_list(
        "pk", "image_id", "model_id"
    ):
        if model_id == active or chosen.get(image_id, (None, ""))[1] != active:
            chosen[image_id] = (row_id, model_id)
    row_ids = sorted(row_id for row_id, _ in chosen.values())
    for start in range(0, len(row_ids), BATCH):
        batch = ModelEmbedding.objects.filter(pk__in=row_ids[start : start + BATCH])
        found = {
            image_id: (model_id, bytes(vector))
            for image_id, model_id, vector in batch.values_list("image_id", "model_id", "vector")
        }
        images = list(Image._base_manager.filter(pk__in=list(found)).only("pk"))
        for image in images:
            image.embedding_model, image.embedding = found[image.pk]
        Image._base_manager.bulk_update(images, ["embedding", "embedding_model"])
        batch.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0006_plain_hash_variant"),
        ("ingestion", "0005_remove_image_pdq"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
