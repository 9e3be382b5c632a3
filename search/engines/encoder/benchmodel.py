"""The ViT-B/32 CLIP architecture with random weights, built offline, for the benchmark.

`CLIPConfig()` with its defaults is exactly ViT-B/32 (the vision tower's 12 layers of width 768 on
32 px patches, the text tower, 512-dim projections): the same compute as the real
openai/clip-vit-base-patch32, whose weights cannot be downloaded here. Its vectors mean nothing;
its speed is the real model's. `manage.py bench --build-vit-b32` prints the folder for CLIP_MODEL.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

from .demo import BOS, EOS, MAX_TOKENS, _write_clip_bpe_files, build_once

VIT_B32_DIR_NAME = "vit-b32-random-v1"


def _build(folder: Path) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CLIPModel(CLIPConfig())
    model.save_pretrained(folder)
    bpe_dir = folder / "bpe"
    bpe_dir.mkdir()
    _write_clip_bpe_files(bpe_dir)
    tokenizer = CLIPTokenizer.from_pretrained(
        bpe_dir, bos_token=BOS, eos_token=EOS, unk_token=EOS, pad_token=EOS, model_max_length=MAX_TOKENS
    )
    tokenizer.save_pretrained(folder)
    shutil.rmtree(bpe_dir)
    # The real model's preprocessing (shortest side 224, centre crop, OpenAI mean and std).
    CLIPImageProcessor().save_pretrained(folder)


def ensure_vit_b32_model(cache_dir: Path) -> Path:
    """The folder under `cache_dir`, built the first time (about 600 MB of float32 weights)."""
    return build_once(Path(cache_dir) / VIT_B32_DIR_NAME, _build)
