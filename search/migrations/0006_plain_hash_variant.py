"""The image's own PDQ hash moves from `ingestion.Image` (pdq_hash, pdq_quality) to its
HashVariant of kind "plain", where indexing already kept it beside the other variants: images
hashed before the variants existed get the row. Reversed, the plain rows are copied back onto
the images (and kept: the older code reads them too)."""

from django.db import migrations
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

PLAIN = "plain"  # search.variants.PLAIN, frozen here as migrations must be
BATCH = 2000


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
        ("ingestion", "0004_remove_image_ocr"),
        ("search", "0005_ocr_text_on_ocr_run"),
    ]

    operations = [
        migrations.RunPython(plain_hashes_to_variants, plain_variants_to_images, elidable=False),
    ]
