"""The model families CLIP_MODEL may name, and what the rest of the code needs to know about each
without loading it: languages, context length, text normalisation, preprocessing, and the score
cut-offs. Torch-free: the web side reads it to choose defaults and hints.

Scores everywhere are cosines of L2-normalised vectors, but families trained differently spread
them differently: CLIP's softmax-trained space puts matching text and images at about 0.25-0.35,
SigLIP's sigmoid-trained one at about 0.05-0.2 (its probability is sigmoid(scale * cosine + bias)),
so a floor tuned on one is wrong for the other. Each family carries its own defaults; the settings
(DUPLICATE_MIN_SCORE, NEAR_DUPLICATE_SCORE) override them for every family when set.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext

from .errors import DEMO_MODELS


@dataclass(frozen=True)
class Family:
    key: str
    name: str
    model_types: tuple[str, ...]  # config.json model_type values of this family
    languages: tuple[str, ...]  # "en", "zh", or "multi" (many, Chinese and English among them)
    context_tokens: int  # what the text tower was trained to read (the upstream tokenizer's cut)
    preprocessing: str  # "open_clip", "cn_clip" (upstream transforms) or "processor" (transformers')
    lowercase: bool  # the text tower was trained on lower-cased text
    similarity: str
    near_duplicate_score: float  # image-image cosine of the "near" duplicate tier
    duplicate_min_score: float  # image-image cosine of the "similar" tier
    search_min_score: float | None  # text search floor when the request sets none (None: no cut)
    # Image-label cosine a suggested label needs (`search.pipeline.labels`): a matching prompt scores about
    # 0.25-0.35 under softmax training, unrelated ones below 0.2.
    label_min_score: float = 0.26

    def reads(self, language: str) -> bool:
        return "multi" in self.languages or language in self.languages


CLIP = Family(
    "clip",
    "OpenAI CLIP / OpenCLIP (CLIPModel)",
    ("clip",),
    ("en",),
    77,
    "open_clip",
    False,
    "cosine (softmax-trained)",
    0.99,  # Immich's default duplicate distance 0.01
    0.90,
    None,
)
CHINESE_CLIP = Family(
    "chinese_clip",
    "Chinese-CLIP (ChineseCLIPModel)",
    ("chinese_clip",),
    ("zh",),
    52,  # cn_clip.clip.tokenize's context_length for every released model
    "cn_clip",
    False,
    "cosine (softmax-trained)",
    0.99,
    0.90,
    None,
)
SIGLIP = Family(
    "siglip",
    "SigLIP 2 (SiglipModel, Gemma tokenizer)",
    ("siglip",),
    ("multi",),
    64,  # text padded to 64 tokens in training (model card)
    "processor",
    True,  # the model card: "trained on lower-cased text"
    "cosine (sigmoid-trained; p = sigmoid(scale * cosine + bias))",
    # Sigmoid training spreads unrelated images further apart than CLIP's softmax: the tiers sit
    # lower. Not measured here (no weights can be downloaded); the settings override them.
    0.97,
    0.80,
    None,
    # sigmoid(scale * cosine + bias) passes 0.1 at a cosine of about 0.09 with SigLIP's learnt
    # scale (about 117) and bias (about -12.9): a set value, not measured here either.
    label_min_score=0.09,
)
ALTCLIP = Family(
    "altclip",
    "AltCLIP (AltCLIPModel, XLM-R text tower)",
    ("altclip",),
    ("multi",),
    77,
    "processor",
    False,
    "cosine (softmax-trained)",
    0.99,
    0.90,
    None,
)
FAMILIES = {f.key: f for f in (CLIP, CHINESE_CLIP, SIGLIP, ALTCLIP)}


@dataclass(frozen=True)
class KnownModel:
    """A published checkpoint with its figures (text -> image Recall@1, %; None: not published in
    our sources). `memory_mb`: float32 weights (half of it in fp16 on a GPU)."""

    model_id: str
    family: str
    dim: int
    memory_mb: int
    english: str
    chinese: str
    source: str


# Sources: docs/models.md (from ../shared/docs/anchors.md: CLIP/OpenCLIP and SigLIP from the
# open_clip and SigLIP 2 tables, Chinese-CLIP from its README, XM3600 Chinese from open_clip's
# multilingual table and Immich's model docs).
KNOWN_MODELS = (
    KnownModel(
        "openai/clip-vit-base-patch32", "clip", 512, 600,
        "Flickr30k 58.8, COCO 30.4", "XM3600 0.4", "CLIP paper; open_clip multilingual table",
    ),
    KnownModel(
        "openai/clip-vit-base-patch16", "clip", 512, 600,
        "Flickr30k 62.2, COCO 33.1", "XM3600 under 7", "CLIP paper; open_clip multilingual table",
    ),
    KnownModel(
        "openai/clip-vit-large-patch14", "clip", 768, 1710,
        "Flickr30k 65.0, COCO 36.5", "XM3600 under 7", "CLIP paper; open_clip multilingual table",
    ),
    KnownModel(
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "clip", 512, 600,
        "Flickr30k 66.8, COCO 39.3", "XM3600 under 7", "open_clip results table",
    ),
    KnownModel(
        "OFA-Sys/chinese-clip-vit-base-patch16", "chinese_clip", 512, 750,
        "-", "COCO-CN 62.2, Flickr30k-CN 62.7", "Chinese-CLIP README",
    ),
    KnownModel(
        "OFA-Sys/chinese-clip-vit-large-patch14", "chinese_clip", 768, 1630,
        "-", "COCO-CN 64.0, Flickr30k-CN 68.0", "Chinese-CLIP README",
    ),
    KnownModel(
        "OFA-Sys/chinese-clip-vit-huge-patch14", "chinese_clip", 1024, 3830,
        "-", "COCO-CN 69.2, Flickr30k-CN 71.2", "Chinese-CLIP README",
    ),
    KnownModel(
        "google/siglip2-base-patch16-224", "siglip", 768, 1500,
        "COCO 52.1", "XM3600 64.4 (mean of R@1/5/10)", "SigLIP 2 paper; Immich model docs",
    ),
    KnownModel(
        "google/siglip2-so400m-patch14-384", "siglip", 1152, 4500,
        "COCO 56.0", "-", "SigLIP 2 paper",
    ),
    KnownModel(
        "BAAI/AltCLIP-m18", "altclip", 768, 3460,
        "-", "-", "model card (18 languages; no retrieval table)",
    ),
)  # fmt: skip
KNOWN_BY_ID = {m.model_id: m for m in KNOWN_MODELS}

# The offline random-weight demo of each family (search.engines.encoder.demo builds them).
DEMO_FAMILIES = {"demo": "clip", "demo-64": "clip", "demo-zh": "chinese_clip", "demo-siglip": "siglip"}
# What to switch to for queries in a language the active model cannot read.
RECOMMENDED = {"zh": "OFA-Sys/chinese-clip-vit-base-patch16", "multi": "google/siglip2-base-patch16-224"}
DEMO_RECOMMENDED = {"zh": "demo-zh"}


@lru_cache(maxsize=64)
def _folder_model_type(folder: str) -> str:
    try:
        return str(
            json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get("model_type", "")
        )
    except (OSError, ValueError, AttributeError):
        return ""


def _family_of_type(model_type: str) -> Family | None:
    return next((f for f in FAMILIES.values() if model_type in f.model_types), None)


def family_of(model_id: str | None = None) -> Family:
    """The family of `model_id` (default: settings.CLIP_MODEL): a demo, a known checkpoint, a local
    folder's config.json, else the family its name says (CLIP when it says none)."""
    model_id = (model_id or settings.CLIP_MODEL).strip()
    if model_id in DEMO_FAMILIES:
        return FAMILIES[DEMO_FAMILIES[model_id]]
    if model_id in KNOWN_BY_ID:
        return FAMILIES[KNOWN_BY_ID[model_id].family]
    if Path(model_id).expanduser().is_dir():
        found = _family_of_type(_folder_model_type(str(Path(model_id).expanduser())))
        if found:
            return found
    name = model_id.lower().replace("-", "_")
    for key in ("chinese_clip", "siglip", "altclip"):
        if key in name:
            return FAMILIES[key]
    return CLIP


def family_of_model_type(model_type: str) -> Family:
    """The family of a loaded model's config.model_type (CLIP's defaults for an unknown one)."""
    return _family_of_type(model_type) or CLIP


def near_duplicate_score(model_id: str | None = None) -> float:
    """The "near" (copy) tier's cosine: NEAR_DUPLICATE_SCORE when set, else the family's."""
    if settings.NEAR_DUPLICATE_SCORE is not None:
        return settings.NEAR_DUPLICATE_SCORE
    return family_of(model_id).near_duplicate_score


def duplicate_min_score(model_id: str | None = None) -> float:
    """The "similar" tier's cosine floor: DUPLICATE_MIN_SCORE when set, else the family's."""
    if settings.DUPLICATE_MIN_SCORE is not None:
        return settings.DUPLICATE_MIN_SCORE
    return family_of(model_id).duplicate_min_score


def search_min_score(model_id: str | None, requested: float | None) -> float | None:
    """The floor a text search applies: the request's, else the family's default (none for a demo,
    whose scores mean nothing)."""
    if requested is not None or not model_id or model_id in DEMO_MODELS:
        return requested
    return family_of(model_id).search_min_score


# ---------------------------------------------------------------------------- queries

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")


def normalise_query(text: str) -> str:
    """NFKC (full-width letters and digits, ligatures, compatibility forms to their plain forms)
    and runs of whitespace as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def language_hint(text: str, model_id: str) -> dict | None:
    """A hint when `text` is Chinese and `model_id` cannot read Chinese: the model to choose."""
    if not model_id or not is_chinese(text):
        return None
    family = family_of(model_id)
    if family.reads("zh"):
        return None
    better = (DEMO_RECOMMENDED if model_id in DEMO_MODELS else RECOMMENDED)["zh"]
    message = gettext(
        "The model answering (%(model)s, %(family)s) reads English only, so Chinese queries find "
        "poor results. Switch to %(better)s, which reads Chinese: manage.py reindex --model %(better)s."
    ) % {"model": model_id, "family": family.name, "better": better}
    return {"code": "language", "model": better, "message": message}
