"""The search app's own bookkeeping. The keyword index itself is a table kept by SQL triggers
(migration 0001, `search.query.keywords`), not a model: it follows every write to images and tags,
whoever makes it (pages, API, admin, bulk updates)."""

from __future__ import annotations

import numpy as np
from django.db import models
from django.db.models import F, FilteredRelation, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from ingestion.models import Image

from .variants import PLAIN


class OcrRun(models.Model):
    """An image whose words were read (possibly none), and the words: `reconcile` queues images
    without one. The keyword index's `ocr` column follows `text` by SQL triggers
    (`migrations/0005_ocr_text_on_ocr_run`): a migration that makes SQLite remake this table (which
    drops its triggers) must create them again."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, primary_key=True, related_name="ocr_run")
    done_at = models.DateTimeField(auto_now=True)
    millis = models.PositiveIntegerField(default=0)  # time spent reading, for the logs and the bench
    error = models.TextField(blank=True)
    # The words read, line by line, and where: [{"text", "box": [[x, y] x 4] in stored pixels, "score"}].
    text = models.TextField(blank=True)
    boxes = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"OCR of image {self.image_id}"


class HashVariant(models.Model):
    """The PDQ hash of one transform of an image (`ingestion.processing.pdq_variants`): the image
    as it is (`variants.PLAIN`, the image's own PDQ hash), the dihedral turns and flips, the
    border-trimmed image and central crops. Kept in the database, the source of truth, so the hash
    collections in Milvus are rebuilt without decoding."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="hash_variants")
    kind = models.CharField(max_length=16)
    pdq_hash = models.CharField(max_length=64)
    quality = models.SmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "kind"], name="one_hash_per_variant")]

    def __str__(self) -> str:
        return f"{self.image_id}:{self.kind}"


def plain_variant(image: Image) -> HashVariant | None:
    """The image's own PDQ hash, from `image.hash_variants` (prefetch them for many images)."""
    return next((v for v in image.hash_variants.all() if v.kind == PLAIN), None)


def with_plain_hash(images: QuerySet[Image]) -> QuerySet[Image]:
    """`images` annotated with their plain hash, `plain_pdq_hash` ("" until hashed) and
    `plain_pdq_quality` (None): one LEFT JOIN on the (image, kind) key, never a query per image."""
    return images.annotate(
        plain_variant=FilteredRelation("hash_variants", condition=Q(hash_variants__kind=PLAIN)),
        plain_pdq_hash=Coalesce(F("plain_variant__pdq_hash"), Value("")),
        plain_pdq_quality=F("plain_variant__quality"),
    )


class ModelEmbedding(models.Model):
    """An image's vector from one model: the one home of every vector (`search.vectors`). The row
    of the active model is the one searches read; during a switch the target model's rows are
    written beside it, and after one the previous model's stay until it is dropped. The database
    stays the source of truth: every embedding collection in Milvus is rebuilt from these rows
    (`reconcile`). Which images have a row for the target model is also the build's cursor: a
    restarted build encodes only the images still without one."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="model_embeddings")
    model_id = models.CharField(max_length=255)
    vector = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "model_id"], name="one_vector_per_model")]
        indexes = [models.Index(fields=["model_id", "image"], name="model_embedding_model")]

    def __str__(self) -> str:
        return f"{self.image_id}:{self.model_id}"

    def as_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vector), dtype=np.float32)


class ModelSwitch(models.Model):
    """The one row naming the model searches use (`active`; empty: settings.CLIP_MODEL), and the
    switch in progress (`target`, built in the background) or finished (`previous`, whose vectors
    and collection stay until dropped). Switching is one update of `active`."""

    active = models.CharField(max_length=255, blank=True)
    # CLIP_MODEL when `active` was set: changing the variable afterwards is a new choice and wins.
    configured = models.CharField(max_length=255, blank=True)
    target = models.CharField(max_length=255, blank=True)
    target_dim = models.PositiveIntegerField(default=0)
    previous = models.CharField(max_length=255, blank=True)
    previous_dim = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    switched_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)  # why the build is stuck (e.g. the model cannot be loaded)

    def __str__(self) -> str:
        return f"active={self.active or '(CLIP_MODEL)'} target={self.target or '-'}"


class LabelRun(models.Model):
    """An image scored against the label vocabulary (`search.pipeline.labels`), possibly with no label
    passing the floor: by which model and which vocabulary. The backfill labels the indexed images
    without a run for their current model and vocabulary."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, primary_key=True, related_name="label_run")
    model_id = models.CharField(max_length=255)
    vocabulary = models.CharField(max_length=16)  # `labels.Vocabulary.digest`
    done_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"labels of image {self.image_id} by {self.model_id}"


class SuggestedLabel(models.Model):
    """A label the model suggests for an image: apart from the owner's own tags, which it never
    touches. `label` is a vocabulary slug; `score` the image-prompt cosine."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="suggested_labels")
    label = models.CharField(max_length=64)
    score = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "label"], name="one_suggestion_per_label")]
        indexes = [models.Index(fields=["label", "-score"], name="suggested_label_best")]

    def __str__(self) -> str:
        return f"{self.image_id}:{self.label}"


class LabelTextEmbedding(models.Model):
    """The vocabulary's prompts embedded by one model's text tower: computed once per model and
    vocabulary, by whichever worker labels first, and read by every later labelling."""

    model_id = models.CharField(max_length=255)
    vocabulary = models.CharField(max_length=16)
    slugs = models.JSONField()  # the rows of `vectors`, in order
    vectors = models.BinaryField()  # float32, len(slugs) x dim, each row L2-normalised
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_id", "vocabulary"], name="one_label_matrix_per_model")
        ]

    def __str__(self) -> str:
        return f"label prompts of {self.model_id}"

    def matrix(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vectors), dtype=np.float32).reshape(len(self.slugs), -1)
