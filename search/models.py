"""The search app's own bookkeeping. The keyword index itself is a table kept by SQL triggers
(migration 0001, `search.keywords`), not a model: it follows every write to images and tags,
whoever makes it (pages, API, admin, bulk updates)."""

from __future__ import annotations

from django.db import models

from ingestion.models import Image


class OcrRun(models.Model):
    """An image whose words were read (possibly none): `reconcile` queues images without one."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, primary_key=True, related_name="ocr_run")
    done_at = models.DateTimeField(auto_now=True)
    millis = models.PositiveIntegerField(default=0)  # time spent reading, for the logs and the bench
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"OCR of image {self.image_id}"


class HashVariant(models.Model):
    """The PDQ hash of one transform of an image (`ingestion.processing.pdq_variants`): the
    dihedral turns and flips, the border-trimmed image and central crops. Kept in the database,
    the source of truth, so the variant collection in Milvus is rebuilt without decoding."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="hash_variants")
    kind = models.CharField(max_length=16)
    pdq_hash = models.CharField(max_length=64)
    quality = models.SmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "kind"], name="one_hash_per_variant")]

    def __str__(self) -> str:
        return f"{self.image_id}:{self.kind}"
