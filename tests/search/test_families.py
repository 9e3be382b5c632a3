"""Model families: each family's demo through its real loading, tokenizer and preprocessing code;
the upstream projects' preprocessing reproduced on photographs; per-family cut-offs; query
normalisation, cutting and the language hint; `manage.py models`."""

from __future__ import annotations

import importlib.util
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import call_command
from PIL import Image
from skimage import data as photos
from transformers import AutoImageProcessor

from search.engines.encoder import DEMO_MODELS, load_encoder
from search.engines.encoder.families import (
    CHINESE_CLIP,
    CLIP,
    SIGLIP,
    duplicate_min_score,
    family_of,
    language_hint,
    near_duplicate_score,
    normalise_query,
    search_min_score,
)
from search.query.queries import QueryVector
from search.query.query_language import parse
from search.query.service import query_notes

FAMILY_DEMOS = {"demo": "clip", "demo-zh": "chinese_clip", "demo-siglip": "siglip"}
ZH = ["杭州西湖的夜景", "北京故宫的雪景"]


def photographs() -> list[Image.Image]:
    """Real photographs (scikit-image's samples) at sizes whose crop margins are odd and even."""
    coffee, cat, astronaut = (Image.fromarray(f()) for f in (photos.coffee, photos.chelsea, photos.astronaut))
    return [coffee.resize((640, 427)), cat, astronaut, coffee.resize((300, 533)), cat.resize((225, 224))]


@pytest.fixture(scope="module", params=sorted(FAMILY_DEMOS))
def demo(request):
    return load_encoder(request.param, device="cpu", batch_size=4, threads=1)


# ---------------------------------------------------------------------------- each family's demo


def test_each_family_demo_loads_and_encodes_english_chinese_and_images(demo) -> None:
    assert demo.family.key == FAMILY_DEMOS[demo.model_id]
    assert demo.dim == DEMO_MODELS[demo.model_id]
    texts = demo.encode_texts(["a photo of a cat", *ZH])
    assert texts.shape == (3, demo.dim) and np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    # The tokenizer reads the characters (no [UNK] for all of them): two queries, two vectors.
    ids = [demo.tokenizer(text)["input_ids"] for text in ZH]
    assert ids[0] != ids[1] and demo.tokenizer.unk_token_id not in ids[0][1:-1] + ids[1][1:-1]
    assert not np.allclose(texts[1], texts[2], atol=1e-7)
    images = demo.encode_images(photographs()[:2])
    assert images.shape == (2, demo.dim) and np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)


def test_each_family_reads_its_own_context_length(demo) -> None:
    assert demo.max_text_tokens == demo.family.context_tokens
    long = "杭州西湖的夜景" * 20
    read = demo.characters_read(long)
    assert read is not None and 0 < read < len(long)
    assert demo.characters_read("a cat") is None
    # What it read is what it encodes: the cut query and the full one are the same vector.
    full, cut = demo.encode_texts([long, long[:read]])
    assert float(full @ cut) == pytest.approx(1.0, abs=1e-5)


def _cn_clip_tokenizer():
    """cn_clip's own tokenizer (its module has no torch import; the package's __init__ does)."""
    root = Path(next(iter(importlib.util.find_spec("cn_clip").submodule_search_locations)))
    spec = importlib.util.spec_from_file_location("cn_bert_tokenizer", root / "clip" / "bert_tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FullTokenizer()


def test_chinese_clip_demo_tokenises_as_cn_clip() -> None:
    encoder = load_encoder("demo-zh", device="cpu", threads=1)
    upstream = _cn_clip_tokenizer()
    for text in [*ZH, "一只猫 on the sofa", "ＡＢＣ１２３"]:
        ours = encoder.tokenizer(text)["input_ids"]
        theirs = [101, *upstream.convert_tokens_to_ids(upstream.tokenize(text)), 102]  # [CLS] ... [SEP]
        assert ours == theirs, text


def test_siglip_demo_reads_lower_case_and_pads_to_64() -> None:
    encoder = load_encoder("demo-siglip", device="cpu", threads=1)
    upper, lower = encoder.encode_texts(["A Cat ON A Sofa", "a cat on a sofa"])
    assert float(upper @ lower) == pytest.approx(1.0, abs=1e-6)
    assert encoder._tokens(["a cat"])["input_ids"].shape == (1, 64)
    assert type(encoder.tokenizer).__name__ == "GemmaTokenizer"


# ---------------------------------------------------------------------------- preprocessing


def _upstream_pixels(image: Image.Image, square: bool, mean, std) -> torch.Tensor:
    """open_clip's (Resize(224) + CenterCrop(224)) or cn_clip's (Resize((224, 224))) transform on a
    PIL image, written out as torchvision runs them: PIL bicubic resize, crop offsets
    int(round(margin / 2)), ToTensor (/255) and Normalize in float32."""
    if square:
        image = image.resize((224, 224), Image.Resampling.BICUBIC)
    else:
        w, h = image.size
        scale = 224 / min(w, h)
        size = (224, int(h * scale)) if w <= h else (int(w * scale), 224)
        image = image.resize(size, Image.Resampling.BICUBIC)
        top, left = int(round((image.height - 224) / 2.0)), int(round((image.width - 224) / 2.0))
        image = image.crop((left, top, left + 224, top + 224))
    tensor = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float().div(255)
    mean, std = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    return tensor.sub(mean).div(std)


@pytest.mark.parametrize(("model_id", "square"), [("demo", False), ("demo-zh", True)])
def test_preprocessing_matches_the_upstream_project_on_photographs(model_id: str, square: bool) -> None:
    encoder = load_encoder(model_id, device="cpu", threads=1)
    processor = encoder.image_processor
    images = photographs()
    mean, std = processor.image_mean, processor.image_std
    upstream = torch.stack([_upstream_pixels(image, square, mean, std) for image in images])
    ours = encoder.preprocess_images(images)
    assert torch.allclose(ours, upstream, atol=1e-5)
    with torch.inference_mode():
        features = encoder.model.get_image_features(pixel_values=upstream).pooler_output
    theirs = torch.nn.functional.normalize(features)
    assert np.abs(encoder.encode_images(images) - theirs.numpy()).max() < 1e-5


def test_transformers_clip_processor_crops_one_pixel_off_upstream() -> None:
    """Why CLIP does not use transformers' processor: on a 640x427 photo its crop starts one
    pixel left of open_clip's (and OpenAI's), which moves the embedding."""
    encoder = load_encoder("demo", device="cpu", threads=1)
    photo = photographs()[0]
    hf = encoder.image_processor(images=[photo], return_tensors="pt")["pixel_values"]
    assert not torch.allclose(hf, encoder.preprocess_images([photo]), atol=1e-3)


def test_siglip_uses_its_transformers_processor() -> None:
    encoder = load_encoder("demo-siglip", device="cpu", threads=1)
    images = photographs()
    processor = AutoImageProcessor.from_pretrained(encoder.model.name_or_path)
    expected = processor(images=images, return_tensors="pt")["pixel_values"]
    assert torch.allclose(encoder.preprocess_images(images), expected, atol=1e-6)


# ---------------------------------------------------------------------------- the family table


def test_families_of_ids_names_and_folders(tmp_path) -> None:
    assert family_of("demo") is CLIP and family_of("demo-zh") is CHINESE_CLIP
    assert family_of("demo-siglip") is SIGLIP
    assert family_of("OFA-Sys/chinese-clip-vit-large-patch14") is CHINESE_CLIP
    assert family_of("someone/my-siglip2-finetune") is SIGLIP
    assert family_of("openai/clip-vit-base-patch32") is CLIP
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "chinese_clip"}))
    assert family_of(str(tmp_path)) is CHINESE_CLIP
    assert family_of(str(tmp_path / "missing")) is CLIP  # not (yet) a folder: the name decides


def test_cut_offs_are_per_family_unless_set(settings) -> None:
    settings.NEAR_DUPLICATE_SCORE = settings.DUPLICATE_MIN_SCORE = None
    assert near_duplicate_score("openai/clip-vit-base-patch32") == 0.99
    assert near_duplicate_score("google/siglip2-base-patch16-224") == SIGLIP.near_duplicate_score < 0.99
    assert duplicate_min_score("google/siglip2-base-patch16-224") == SIGLIP.duplicate_min_score < 0.90
    settings.NEAR_DUPLICATE_SCORE, settings.DUPLICATE_MIN_SCORE = 0.95, 0.5
    assert near_duplicate_score("google/siglip2-base-patch16-224") == 0.95
    assert duplicate_min_score("openai/clip-vit-base-patch32") == 0.5
    assert search_min_score("google/siglip2-base-patch16-224", 0.3) == 0.3
    assert search_min_score("demo-siglip", None) is None


def test_manage_py_models_lists_every_family_with_figures() -> None:
    out = StringIO()
    call_command("models", stdout=out)
    text = out.getvalue()
    for expected in (
        "openai/clip-vit-base-patch32",
        "OFA-Sys/chinese-clip-vit-base-patch16",
        "COCO-CN 62.2",
        "google/siglip2-base-patch16-224",
        "demo-zh",
        "demo-siglip",
        "Chinese",
    ):
        assert expected in text, expected  # fmt: skip


# ---------------------------------------------------------------------------- queries


def test_queries_are_nfkc_with_one_space() -> None:
    assert normalise_query("  ｃａｔ　\t２  ") == "cat 2"
    assert normalise_query("ﬁsh\u3000and\u00a0chips") == "fish and chips"


def test_a_chinese_query_to_an_english_model_names_the_model_to_choose() -> None:
    hint = language_hint("杭州西湖的夜景", "openai/clip-vit-base-patch32")
    assert hint["model"] == "OFA-Sys/chinese-clip-vit-base-patch16" and "reindex --model" in hint["message"]
    assert language_hint("杭州西湖的夜景", "demo")["model"] == "demo-zh"
    assert language_hint("杭州西湖的夜景", "OFA-Sys/chinese-clip-vit-base-patch16") is None
    assert language_hint("杭州西湖的夜景", "google/siglip2-base-patch16-224") is None
    assert language_hint("a night view", "openai/clip-vit-base-patch32") is None


def test_notes_say_where_a_query_was_cut() -> None:
    long = "杭州西湖的夜景" * 20
    vector = QueryVector("demo-zh", np.ones(4, dtype=np.float32), ((long, 50),))
    (note,) = query_notes(parse(long), vector)
    assert note.code == "truncated" and "first 50 of 140 characters" in note.message
    codes = [n.code for n in query_notes(parse(long), QueryVector("demo", vector.vector, vector.cut))]
    assert codes == ["truncated", "language"]
