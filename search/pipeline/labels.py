"""Suggested labels (issue 21): each indexed image is scored zero-shot against a vocabulary of
everyday categories kept in English and Chinese (`search/vocabulary/labels.json`): the cosine of its
vector with each category's prompt, embedded by the same model's text tower. Labels that pass the
model family's floor (at most MAX_PER_IMAGE, best first) are stored as `SuggestedLabel` rows, apart
from the owner's own tags, which they never touch.

- The prompts' vectors are computed once per model and vocabulary (`LabelTextEmbedding`), by the
  ingest worker's encoder, and read back by every later labelling: labelling an image is one
  matrix product.
- New images are labelled as the last step of indexing (`indexing.index_prepared`); images
  indexed before (or by another model, or under an older vocabulary) by a chain of ingest tasks
  that `reconcile` starts, as `search.pipeline.rehashing` does for hashes.
- LABELS: `auto` is off for the random-weight demo models (their scores mean nothing), `on` /
  `off` decide for a model folder; off, nothing is labelled, the Explore page and API say why and
  the `label` filter is refused with the same reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import get_language, gettext

from core.errors import BadInput
from ingestion.models import Image

from .. import vectors
from ..engines.encoder import DEMO_MODELS, get_encoder
from ..engines.encoder.families import Family, family_of
from ..models import LabelRun, LabelTextEmbedding, SuggestedLabel
from . import chains, switching
from .worker_status import redis_client

if TYPE_CHECKING:  # the class itself lives beside torch, which only the workers load
    from ..engines.encoder import Encoder

log = logging.getLogger(__name__)

VOCABULARY_FILE = Path(__file__).resolve().parent.parent / "vocabulary" / "labels.json"
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG_CHARS = 64
MAX_PER_IMAGE = 5
BATCH = 512  # images a backfill task labels: one matrix product, a few hundred rows written
TASK = "search.tasks.label_images"
CHAIN_KEY = "imagesearch:label-chain"  # while set, a chain is queued or running (search.pipeline.chains)


# ---------------------------------------------------------------------------- the vocabulary


@dataclass(frozen=True)
class Label:
    slug: str
    en: str
    zh: str
    prompt_en: str
    prompt_zh: str

    def name(self, language: str | None = None) -> str:
        """The name in `language` (default: the active one): Chinese for any zh variant."""
        return self.zh if (language or get_language() or "en").lower().startswith("zh") else self.en

    def prompts(self, family: Family) -> tuple[str, ...]:
        """The prompts in the languages the model reads: both for a multilingual one, whose two
        vectors are averaged (a prompt ensemble)."""
        if family.reads("en") and family.reads("zh"):
            return (self.prompt_en, self.prompt_zh)
        return (self.prompt_zh,) if family.reads("zh") else (self.prompt_en,)

    def query_words(self, family: Family, language: str | None = None) -> str:
        """The words a search for this label types: the viewer's language where the model reads
        it, else the language it does read."""
        language = "zh" if (language or get_language() or "en").lower().startswith("zh") else "en"
        if family.reads(language):
            return self.name(language)
        return self.zh if family.reads("zh") else self.en


@dataclass(frozen=True)
class Vocabulary:
    labels: tuple[Label, ...]
    digest: str  # of the file: labels computed under another vocabulary are computed again

    def get(self, slug: str) -> Label | None:
        return self._by_slug().get(slug)

    def _by_slug(self) -> dict[str, Label]:
        return {label.slug: label for label in self.labels}


def parse_vocabulary(raw: bytes) -> Vocabulary:
    """The vocabulary from the data file's bytes; a malformed entry is a ValueError naming it."""
    data = json.loads(raw)
    templates = data["templates"]
    labels: list[Label] = []
    seen: set[str] = set()
    for entry in data["labels"]:
        slug = entry["slug"]
        if not SLUG_RE.match(slug) or len(slug) > MAX_SLUG_CHARS or slug in seen:
            raise ValueError(f"label slug {slug!r} is malformed or repeated")
        template = templates[entry["template"]]
        if "{}" not in template["en"] or "{}" not in template["zh-Hans"]:
            raise ValueError(f"template {entry['template']!r} has no {{}} for the name")
        seen.add(slug)
        labels.append(
            Label(
                slug,
                entry["en"],
                entry["zh-Hans"],
                template["en"].format(entry["en"]),
                template["zh-Hans"].format(entry["zh-Hans"]),
            )
        )
    return Vocabulary(tuple(labels), hashlib.sha256(raw).hexdigest()[:16])


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    return parse_vocabulary(VOCABULARY_FILE.read_bytes())


def display_name(slug: str) -> str:
    """A slug's name in the active language (the slug itself when the vocabulary has none)."""
    found = vocabulary().get(slug.strip().lower())
    return found.name() if found else slug


def check_filter(value: str) -> str:
    """A `label` filter's slug; BadInput when labels are off (with the reason) or it is unknown."""
    slug = value.strip().lower()
    if not enabled():
        raise BadInput(off_reason())
    if vocabulary().get(slug) is None:
        shown = slug[:MAX_SLUG_CHARS]
        raise BadInput(f"label: unknown label '{shown}'; GET /api/labels/ lists the labels in use.")
    return slug


# ---------------------------------------------------------------------------- on, off, floor


def enabled() -> bool:
    """`LABELS`: `auto` trusts the model unless it is a random-weight demo; `on` / `off` decide."""
    mode = settings.LABELS
    if mode == "auto":
        return switching.active_model_or_current() not in DEMO_MODELS
    return mode == "on"


def off_reason() -> str:
    """Why there are no suggested labels (page and API); empty when they are on."""
    if enabled():
        return ""
    if settings.LABELS == "off":
        return gettext("Suggested labels are turned off (LABELS=off).")
    return gettext(
        "Suggested labels are off: the demo model has random weights and cannot judge what an image "
        "shows. Set CLIP_MODEL to a real model (or LABELS=on to label anyway)."
    )


def min_score(model_id: str) -> float:
    """The cosine a label needs: LABEL_MIN_SCORE when set, else the model family's floor."""
    if settings.LABEL_MIN_SCORE is not None:
        return settings.LABEL_MIN_SCORE
    return family_of(model_id).label_min_score


# ---------------------------------------------------------------------------- prompt vectors


def _normalised(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def prompt_matrix(encoder: Encoder, vocab: Vocabulary) -> np.ndarray:
    """One L2-normalised row per label: the mean of its prompts' text vectors."""
    family = family_of(encoder.model_id)
    prompts = [label.prompts(family) for label in vocab.labels]
    vectors = _normalised(
        np.asarray(encoder.encode_texts([p for group in prompts for p in group]), np.float32)
    )
    rows, start = [], 0
    for group in prompts:
        rows.append(vectors[start : start + len(group)].mean(axis=0))
        start += len(group)
    return _normalised(np.stack(rows)).astype(np.float32)


def store_matrix(model_id: str, vocab: Vocabulary, slugs: Sequence[str], matrix: np.ndarray) -> None:
    """Keep the prompts' vectors of `model_id` (a concurrent worker's identical row wins)."""
    LabelTextEmbedding.objects.get_or_create(
        model_id=model_id,
        vocabulary=vocab.digest,
        defaults={"slugs": list(slugs), "vectors": np.asarray(matrix, np.float32).tobytes()},
    )


def label_matrix(model_id: str, encoder: Encoder | None = None) -> tuple[list[str], np.ndarray] | None:
    """The slugs and prompt vectors of `model_id`: stored, else computed by `encoder` (when it is
    that model's) and stored; None when neither is possible."""
    vocab = vocabulary()
    row = LabelTextEmbedding.objects.filter(model_id=model_id, vocabulary=vocab.digest).first()
    if row is not None:
        return list(row.slugs), row.matrix()
    if encoder is None or encoder.model_id != model_id:
        return None
    slugs = [label.slug for label in vocab.labels]
    matrix = prompt_matrix(encoder, vocab)
    store_matrix(model_id, vocab, slugs, matrix)
    log.info("Label prompts of %s embedded (%d labels)", model_id, len(slugs))
    return slugs, matrix


# ---------------------------------------------------------------------------- labelling


def suggest(
    vectors: np.ndarray, matrix: np.ndarray, slugs: Sequence[str], floor: float
) -> list[list[tuple[str, float]]]:
    """For each image vector, its best labels (at most MAX_PER_IMAGE) with a cosine >= floor."""
    scores = _normalised(np.asarray(vectors, np.float32)) @ matrix.T
    found = []
    for row in scores:
        best = np.argsort(-row, kind="stable")[:MAX_PER_IMAGE]
        found.append([(slugs[i], round(float(row[i]), 4)) for i in best if row[i] >= floor])
    return found


def _store(model_id: str, digest: str, suggestions: dict[int, list[tuple[str, float]]]) -> list[int]:
    """Replace the images' suggested labels and record their runs; images deleted meanwhile are
    skipped (locked first, so a delete waits)."""
    try:
        with transaction.atomic():
            ids = set(
                Image.objects.select_for_update()
                .filter(pk__in=list(suggestions))
                .values_list("pk", flat=True)
            )
            SuggestedLabel.objects.filter(image_id__in=ids).delete()
            LabelRun.objects.filter(image_id__in=ids).delete()
            SuggestedLabel.objects.bulk_create(
                SuggestedLabel(image_id=pk, label=slug, score=score)
                for pk in ids
                for slug, score in suggestions[pk]
            )
            LabelRun.objects.bulk_create(
                LabelRun(image_id=pk, model_id=model_id, vocabulary=digest) for pk in ids
            )
    except IntegrityError:  # an image deleted between the lock and the insert (no row locks on SQLite)
        log.info("Images were deleted while they were labelled; the backfill labels the rest")
        return []
    return sorted(ids)


def label_images(ids: Sequence[int], encoder: Encoder | None = None) -> list[int]:
    """Label these indexed images from their stored vectors of the model that indexed them
    (`encoder`'s, else the active model); returns the ids labelled. Images are left to the
    backfill while that model's prompt vectors are neither stored nor computable by `encoder`."""
    if not ids or not enabled():
        return []
    model_id = encoder.model_id if encoder is not None else switching.active_model_or_current()
    indexed = Image.objects.filter(pk__in=list(ids), status=Image.Status.INDEXED).values_list("pk", flat=True)
    stored = vectors.of_images(indexed, model_id)
    found = label_matrix(model_id, encoder) if stored else None
    if found is None:
        return []
    slugs, matrix = found
    kept = [(pk, v) for pk, v in sorted(stored.items()) if v.shape == (matrix.shape[1],)]
    if not kept:
        return []
    suggestions = suggest(np.stack([v for _, v in kept]), matrix, slugs, min_score(model_id))
    return _store(model_id, vocabulary().digest, dict(zip([pk for pk, _ in kept], suggestions, strict=True)))


def label_indexed(ids: Sequence[int], encoder: Encoder) -> None:
    """Indexing's last step: label what was just indexed. A failure never fails the indexing;
    the backfill labels those images later."""
    try:
        label_images(ids, encoder)
    except Exception:
        log.warning(
            "Suggested labels of images %s failed; the backfill retries", list(ids)[:10], exc_info=True
        )


# ---------------------------------------------------------------------------- backfill


def outdated_ids() -> list[int]:
    """Indexed images of the active model without labels from it under this vocabulary."""
    model_id = switching.active_model_or_current()
    current = LabelRun.objects.filter(model_id=model_id, vocabulary=vocabulary().digest)
    images = Image.objects.filter(status=Image.Status.INDEXED, pk__in=vectors.holder_ids(model_id))
    return list(images.exclude(pk__in=current.values("image_id")).order_by("pk").values_list("pk", flat=True))


def next_batch() -> list[int]:
    return outdated_ids()[:BATCH] if enabled() else []


def start_chain() -> bool:
    """Queue a chain of labelling tasks unless labels are off, none is needed or one is under way."""
    return bool(next_batch()) and chains.start(TASK, CHAIN_KEY)


def run_batch() -> dict:
    """One link of the chain: a batch, then the next link while images remain. The prompts'
    vectors are computed here (loading the model) only when no worker has stored them yet."""
    ids = next_batch()
    model_id = switching.active_model_or_current()
    encoder = None
    if ids and label_matrix(model_id) is None:
        encoder = get_encoder(model_id)  # ModelUnavailable: the task ends the chain; reconcile retries
    done = label_images(ids, encoder)
    remaining = len(outdated_ids()) if enabled() else 0
    chains.follow(TASK, CHAIN_KEY, progressed=bool(done), remaining=remaining)
    return {"labelled": len(done), "remaining": remaining}


def end_chain() -> None:
    """Forget the chain (its task failed for good): the next `reconcile` starts another."""
    with contextlib.suppress(redis.RedisError, OSError):  # else the mark expires by itself
        redis_client().delete(CHAIN_KEY)
