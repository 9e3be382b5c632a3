"""A small random-weight CLIP with the real CLIP tokenizer, for offline runs and tests.

Only `search.engines.encoder.loading` imports this module (it imports torch and transformers).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer
from transformers.image_utils import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    PILImageResampling,
)

DEMO_DIR_NAME = "demo-clip-v1"
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_TOKENS = 77


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP mapping of every byte to a printable unicode character."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _bpe_path() -> Path:
    spec = importlib.util.find_spec("open_clip")  # never imported: it would pull in torchvision
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package open-clip-torch (for its CLIP BPE vocabulary) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"


def _write_clip_bpe_files(folder: Path) -> None:
    """vocab.json and merges.txt built exactly as OpenAI's SimpleTokenizer builds its vocabulary."""
    with gzip.open(_bpe_path(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += [BOS, EOS]
    (folder / "vocab.json").write_text(
        json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False),
        encoding="utf-8",
    )
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )


def _build(folder: Path, projection_dim: int = 128) -> None:
    config = CLIPConfig(
        text_config={
            "hidden_size": 64,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "vocab_size": 49408,
            "max_position_embeddings": MAX_TOKENS,
            "bos_token_id": 49406,
            "eos_token_id": 49407,
        },
        vision_config={
            "hidden_size": 64,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "patch_size": 32,
            "image_size": 224,
        },
        projection_dim=projection_dim,
    )
    # fork_rng: deterministic weights without disturbing the caller's global RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CLIPModel(config)
    model.save_pretrained(folder)

    bpe_dir = folder / "bpe"
    bpe_dir.mkdir()
    _write_clip_bpe_files(bpe_dir)
    tokenizer = CLIPTokenizer.from_pretrained(
        bpe_dir,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        model_max_length=MAX_TOKENS,
    )
    ids = tokenizer("a photo of a cat")["input_ids"]
    if ids != [49406, 320, 1125, 539, 320, 2368, 49407]:
        raise RuntimeError(f"demo CLIP tokenizer does not match OpenAI's vocabulary: {ids}")
    tokenizer.save_pretrained(folder)
    shutil.rmtree(bpe_dir)

    CLIPImageProcessor(
        do_resize=True,
        size={"shortest_edge": 224},
        resample=PILImageResampling.BICUBIC,
        do_center_crop=True,
        crop_size={"height": 224, "width": 224},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
        do_convert_rgb=True,
    ).save_pretrained(folder)


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """`target`, made by `build(folder)` the first time. Built beside the target then renamed: a
    racing process sees either nothing or a complete model."""
    target = Path(target)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        # mkdtemp and the weights writer make owner-only files; workers may run as other users.
        for path in tmp.iterdir():
            path.chmod(0o644)
        tmp.chmod(0o755)
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir():  # lost the race if another process renamed first; otherwise a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_demo_model(cache_dir: Path, projection_dim: int = 128) -> Path:
    """Return the demo model folder under cache_dir, building it the first time. Another
    `projection_dim` is another model (its own folder): same towers, other embedding size."""
    if projection_dim == 128:
        return build_once(Path(cache_dir) / DEMO_DIR_NAME, _build)
    name = f"{DEMO_DIR_NAME}-{projection_dim}"
    return build_once(Path(cache_dir) / name, lambda folder: _build(folder, projection_dim))
