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
