"""`manage.py models`: the model families CLIP_MODEL may name, with dimension, memory, languages and
published text -> image Recall@1, and which to choose per language. Switch with
`manage.py reindex --model X` (a background re-index; never two models' vectors in one collection)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from search.engines.encoder import DEMO_MODELS
from search.engines.encoder.families import DEMO_FAMILIES, FAMILIES, KNOWN_MODELS, RECOMMENDED
from search.pipeline import switching

LANGUAGES = {"en": "English", "zh": "Chinese", "multi": "many (English, Chinese, ...)"}


def _languages(family_key: str) -> str:
    return ", ".join(LANGUAGES[code] for code in FAMILIES[family_key].languages)


class Command(BaseCommand):
    help = "List the supported model families with dimension, memory, languages and published recall."

    def handle(self, *args, **options) -> None:
        write = self.stdout.write
        write(f"Active model: {switching.active_model_or_current()}\n")
        write("Families (each with its own tokenizer, preprocessing and score cut-offs):")
        for family in FAMILIES.values():
            write(
                f"  {family.key:13} {family.name}; reads {_languages(family.key)}; "
                f"{family.context_tokens} tokens; "
                f"{family.similarity}; near copy >= {family.near_duplicate_score}, "
                f"similar >= {family.duplicate_min_score}"
            )
        write("\nModels (text -> image Recall@1 %, published; memory: float32 weights, half in fp16):")
        header = (
            f"  {'model':40} {'family':13} {'dim':>5} {'memory':>8}  {'English':27} {'Chinese':34} source"
        )
        write(header)
        for model in KNOWN_MODELS:
            write(
                f"  {model.model_id:40} {model.family:13} {model.dim:>5} {model.memory_mb:>5} MB  "
                f"{model.english:27} {model.chinese:34} {model.source}"
            )
        for model_id, family in DEMO_FAMILIES.items():
            write(
                f"  {model_id:40} {family:13} {DEMO_MODELS[model_id]:>5} {'<10':>5} MB  "
                f"{'random weights (offline demo)':27} {'-':34} built locally"
            )
        write(
            "\nChoose: English: openai/clip-vit-base-patch32 (default; best recall per byte: "
            "laion/CLIP-ViT-B-32-laion2B-s34B-b79K). "
            f"Chinese: {RECOMMENDED['zh']}. Both and other languages: {RECOMMENDED['multi']}.\n"
            "Switch without downtime: manage.py reindex --model <id or folder> (builds the new "
            "collection in the background, then switches)."
        )
