"""Small random-weight demos of the other families, each with its family's real tokenizer class:

- `demo-zh`: Chinese-CLIP (ChineseCLIPModel) with the real BERT Chinese vocabulary that ships in the
  `cn-clip` wheel (cn_clip/clip/vocab.txt, 21,128 tokens) and cn_clip's preprocessing numbers;
- `demo-siglip`: SigLIP 2's shape (SiglipModel, Gemma tokenizer, 64 tokens, mean/std 0.5) with a
  SentencePiece BPE model trained here on English words and Chinese characters from those wheels
  (Gemma's own vocabulary ships in no package).

Only `search.engines.encoder.loading` imports this module (it imports torch and transformers).
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import shutil
from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    BertTokenizer,
    ChineseCLIPConfig,
    ChineseCLIPImageProcessor,
    ChineseCLIPModel,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
)
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling

from .families import CHINESE_CLIP, SIGLIP

ZH_DIR_NAME = "demo-chinese-clip-v1"
SIGLIP_DIR_NAME = "demo-siglip-v1"
_TOWER = {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2}
_VISION = {**_TOWER, "patch_size": 32, "image_size": 224}


def _package_dir(name: str, purpose: str) -> Path:
    spec = importlib.util.find_spec(name)  # never imported: both would pull in torchvision
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name} (for {purpose}) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _random_weights(model_class, config, folder: Path) -> None:
    # fork_rng: deterministic weights without disturbing the caller's global RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = model_class(config)
    model.save_pretrained(folder)


def build_chinese_clip(folder: Path) -> None:
    vocab = _package_dir("cn_clip", "its BERT Chinese vocabulary") / "clip" / "vocab.txt"
    source = folder / "vocab"
    source.mkdir()
    shutil.copy(vocab, source / "vocab.txt")
    # from_pretrained on a folder: BertTokenizer(vocab_file=...) gives [UNK] for everything (transformers 5).
    tokenizer = BertTokenizer.from_pretrained(source, model_max_length=CHINESE_CLIP.context_tokens)
    ids = tokenizer("杭州西湖的夜景")["input_ids"]
    if ids != [101, 3343, 2336, 6205, 3959, 4638, 1915, 3250, 102]:
        raise RuntimeError(f"demo Chinese-CLIP tokenizer does not match the BERT Chinese vocabulary: {ids}")
    tokenizer.save_pretrained(folder)
    shutil.rmtree(source)
    config = ChineseCLIPConfig(
        text_config={**_TOWER, "vocab_size": len(tokenizer), "max_position_embeddings": 512},
        vision_config=_VISION,
        projection_dim=128,
    )
    _random_weights(ChineseCLIPModel, config, folder)
    # As the released checkpoints: a square resize, no crop (cn_clip.clip.utils.image_transform).
    ChineseCLIPImageProcessor(
        size={"height": 224, "width": 224},
        do_center_crop=False,
        resample=PILImageResampling.BICUBIC,
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
    ).save_pretrained(folder)


def _training_sentences() -> list[str]:
    """English words (CLIP's BPE merges that complete a word) and Chinese characters (BERT's)."""
    bpe = _package_dir("open_clip", "its CLIP BPE vocabulary") / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe, "rt", encoding="utf-8") as f:
        merges = [line.split() for line in f.read().split("\n")[1:20000]]
    words = [a + b[:-4] for a, b in (m for m in merges if len(m) == 2) if b.endswith("</w>")]
    words = [w for w in words if w.isalpha()]
    vocab = _package_dir("cn_clip", "its BERT Chinese vocabulary") / "clip" / "vocab.txt"
    chinese = [
        w for w in vocab.read_text(encoding="utf-8").split("\n") if len(w) == 1 and "\u4e00" <= w <= "\u9fff"
    ]
    return [" ".join(words[i : i + 8]) for i in range(0, len(words), 8)] + [
        "".join(chinese[i : i + 12]) for i in range(0, len(chinese), 12)
    ]


def _train_sentencepiece() -> bytes:
    import sentencepiece  # only here: training is a build step

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_training_sentences()),
        model_writer=model,
        model_type="bpe",
        vocab_size=8192,
        hard_vocab_limit=False,
        byte_fallback=True,  # as Gemma's: any character still encodes (as its bytes)
        character_coverage=1.0,
        split_digits=True,
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def build_siglip(folder: Path) -> None:
    source = folder / "spm"
    source.mkdir()
    (source / "tokenizer.model").write_bytes(_train_sentencepiece())
    settings = {"tokenizer_class": "GemmaTokenizer", "model_max_length": SIGLIP.context_tokens}
    (source / "tokenizer_config.json").write_text(json.dumps({**settings, "padding_side": "right"}))
    tokenizer = AutoTokenizer.from_pretrained(source)  # the SentencePiece model converted, as Gemma's
    tokenizer.save_pretrained(folder)
    shutil.rmtree(source)
    config = SiglipConfig(
        text_config={
            **_TOWER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": SIGLIP.context_tokens,
            "pad_token_id": 0,
            "eos_token_id": 1,
            "bos_token_id": 2,
        },
        vision_config=_VISION,
    )
    _random_weights(SiglipModel, config, folder)
    SiglipImageProcessor(
        size={"height": 224, "width": 224}, resample=PILImageResampling.BILINEAR
    ).save_pretrained(folder)


BUILDERS = {"demo-zh": (ZH_DIR_NAME, build_chinese_clip), "demo-siglip": (SIGLIP_DIR_NAME, build_siglip)}
