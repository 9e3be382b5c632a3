"""Encoder tests on the offline demo CLIP (random weights, real CLIP tokenizer and processor)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from django.conf import settings
from PIL import Image, ImageDraw
from safetensors.torch import load_file
from transformers import CLIPImageProcessor

from core.errors import ServiceUnavailable
from search.engines import encoder as encoder_package
from search.engines.encoder import Encoder, EncoderHolder, EncoderState, ModelUnavailable, load_encoder
from search.engines.encoder.demo import DEMO_DIR_NAME, ensure_demo_model

CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]
TEXTS = ["a photo of a cat", "a red circle", "", "two dogs on a beach", "x " * 200]


def shapes_image(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    rng = np.random.default_rng(seed)

    def colour() -> tuple[int, int, int]:
        return tuple(int(c) for c in rng.integers(0, 256, 3))  # type: ignore[return-value]

    image = Image.new("RGB", size, colour())
    draw = ImageDraw.Draw(image)
    for _ in range(5):
        x, y = int(rng.integers(0, size[0] // 2)), int(rng.integers(0, size[1] // 2))
        w, h = int(rng.integers(20, 150)), int(rng.integers(20, 150))
        draw.ellipse([x, y, x + w, y + h], fill=colour())
        draw.rectangle([y, x, y + h // 2, x + w // 2], fill=colour())
    return image


def with_mode(image: Image.Image, mode: str) -> Image.Image:
    if mode == "RGBA":  # half transparent, so compositing onto white matters
        rgba = image.convert("RGBA")
        alpha = Image.new("L", image.size, 255)
        ImageDraw.Draw(alpha).rectangle([0, 0, image.width // 2, image.height], fill=0)
        rgba.putalpha(alpha)
        return rgba
    if mode == "P":
        return image.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return image.convert(mode)


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return load_encoder("demo", device="cpu", batch_size=2)


@pytest.fixture(scope="module")
def demo_dir(encoder: Encoder) -> Path:
    return Path(settings.MODEL_CACHE_DIR) / DEMO_DIR_NAME


def test_attributes(encoder: Encoder) -> None:
    assert encoder.model_id == "demo"
    assert encoder.is_demo
    assert encoder.dim == 128
    assert encoder.device == "cpu"


def test_shapes_dtype_and_unit_norm(encoder: Encoder) -> None:
    images = [shapes_image(i) for i in range(5)]
    for vectors in (encoder.encode_images(images), encoder.encode_texts(TEXTS)):
        assert vectors.shape == (5, encoder.dim)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_inputs(encoder: Encoder) -> None:
    for vectors in (encoder.encode_images([]), encoder.encode_texts([])):
        assert vectors.shape == (0, encoder.dim)
        assert vectors.dtype == np.float32


def test_deterministic_across_calls_and_loads(encoder: Encoder) -> None:
    images = [shapes_image(i) for i in range(3)]
    first_images, first_texts = (
        encoder.encode_images(images),
        encoder.encode_texts(TEXTS),
    )
    np.testing.assert_array_equal(first_images, encoder.encode_images(images))
    np.testing.assert_array_equal(first_texts, encoder.encode_texts(TEXTS))
    other = load_encoder("demo", device="cpu", batch_size=2)
    np.testing.assert_allclose(other.encode_images(images), first_images, atol=1e-6)
    np.testing.assert_allclose(other.encode_texts(TEXTS), first_texts, atol=1e-6)


def test_batch_equals_one_by_one(encoder: Encoder) -> None:
    images = [shapes_image(i, (200 + 30 * i, 260 - 20 * i)) for i in range(5)]
    batched = encoder.encode_images(images)  # batch size 2: batches of 2, 2, 1
    single = np.concatenate([encoder.encode_images([image]) for image in images])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    batched = encoder.encode_texts(TEXTS)
    single = np.concatenate([encoder.encode_texts([text]) for text in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_parallel_preprocessing_of_a_large_batch_is_identical(encoder: Encoder, demo_dir: Path) -> None:
    images = [
        with_mode(shapes_image(i, (180 + 13 * i, 300 - 7 * i)), "RGBA" if i % 3 else "RGB") for i in range(19)
    ]
    configured, encoder.preprocess_threads = encoder.preprocess_threads, 4  # chunks of 5, 5, 5, 4
    try:
        actual = encoder.preprocess_images(images)
    finally:
        encoder.preprocess_threads = configured
    expected = CLIPImageProcessor.from_pretrained(demo_dir)(images=images, return_tensors="pt")
    assert torch.equal(actual, expected["pixel_values"])


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
@pytest.mark.parametrize("size", [(224, 224), (400, 150), (97, 333)])
def test_preprocessing_is_the_models_own(
    encoder: Encoder, demo_dir: Path, mode: str, size: tuple[int, int]
) -> None:
    images = [
        with_mode(shapes_image(7, size), mode),
        with_mode(shapes_image(8, size), mode),
    ]
    processor = CLIPImageProcessor.from_pretrained(demo_dir)
    expected = processor(images=images, return_tensors="pt")["pixel_values"]
    actual = encoder.preprocess_images(images)
    assert actual.shape == (2, 3, 224, 224)
    assert torch.equal(actual, expected)


def test_tokenizer_is_the_real_clip_bpe(encoder: Encoder) -> None:
    assert encoder.tokenizer("a photo of a cat")["input_ids"] == CAT_IDS
    assert encoder.max_text_tokens == 77
    long_ids = encoder.tokenizer("x " * 200, truncation=True, max_length=77)["input_ids"]
    assert len(long_ids) == 77 and long_ids[-1] == CAT_IDS[-1]


def test_identical_images_match_and_different_images_differ(encoder: Encoder) -> None:
    vectors = encoder.encode_images([shapes_image(1), shapes_image(1), shapes_image(2)])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-5)
    assert float(vectors[0] @ vectors[2]) < 0.999
    texts = encoder.encode_texts(["a photo of a cat", "a photo of a cat", "a red circle"])
    assert float(texts[0] @ texts[1]) == pytest.approx(1.0, abs=1e-5)
    assert float(texts[0] @ texts[2]) < 0.999


@pytest.mark.parametrize(
    "model_id",
    [
        "/nonexistent/clip-model",
        "./no-such-model-folder",
        "not a model id!",
        "no-such-org-xq7/no-model",
    ],
)
def test_unavailable_model_says_how_to_fix(model_id: str) -> None:
    with pytest.raises(ModelUnavailable, match="CLIP_MODEL"):
        load_encoder(model_id, device="cpu")


def test_folder_without_model_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="CLIP_MODEL"):
        load_encoder(str(tmp_path), device="cpu")


def test_demo_build_is_deterministic_and_atomic(demo_dir: Path, tmp_path: Path) -> None:
    built = ensure_demo_model(tmp_path)
    assert built == tmp_path / DEMO_DIR_NAME
    assert [p.name for p in tmp_path.iterdir()] == [DEMO_DIR_NAME]  # no temp folder left
    mine, cached = (
        load_file(built / "model.safetensors"),
        load_file(demo_dir / "model.safetensors"),
    )
    assert mine.keys() == cached.keys()
    assert all(torch.equal(mine[k], cached[k]) for k in mine)
    mtime = (built / "model.safetensors").stat().st_mtime_ns
    assert ensure_demo_model(tmp_path) == built
    assert (built / "model.safetensors").stat().st_mtime_ns == mtime


def test_holder_ok_after_load(encoder: Encoder) -> None:
    calls = []

    def loader() -> Encoder:
        calls.append(1)
        return encoder

    holder = EncoderHolder(loader)
    assert holder.state() == ("idle", "")
    assert holder.get() is encoder and holder.get() is encoder
    assert len(calls) == 1
    state, detail = holder.state()
    assert state == "ok" and "demo" in detail


def test_holder_error_gives_reason_without_retrying_at_once() -> None:
    calls = []

    def loader() -> Encoder:
        calls.append(1)
        return load_encoder("/nonexistent/clip-model", device="cpu")

    holder = EncoderHolder(loader)
    for _ in range(2):
        with pytest.raises(ModelUnavailable, match="folder not found"):
            holder.get()
    assert len(calls) == 1
    state, detail = holder.state()
    assert state == "error" and "folder not found" in detail and "CLIP_MODEL" in detail


def test_background_loading_reports_loading_then_ok(encoder: Encoder) -> None:
    release = threading.Event()

    def loader() -> Encoder:
        release.wait(10)
        return encoder

    holder = EncoderHolder(loader)
    thread = holder.start_loading_in_background()
    assert thread is not None
    assert holder.state()[0] == "loading"
    assert holder.start_loading_in_background() is None  # already loading: no second thread
    release.set()
    thread.join(10)
    assert holder.state()[0] == "ok"


def test_background_loading_reports_error() -> None:
    holder = EncoderHolder(lambda: load_encoder("/nonexistent/clip-model", device="cpu"))
    thread = holder.start_loading_in_background()
    assert thread is not None
    thread.join(10)
    state, detail = holder.state()
    assert state == "error" and "folder not found" in detail


def test_holder_wraps_unexpected_errors() -> None:
    def loader() -> Encoder:
        raise OSError("disk on fire")

    holder = EncoderHolder(loader)
    with pytest.raises(ModelUnavailable, match="disk on fire.*CLIP_MODEL"):
        holder.get()
    assert holder.state()[0] == "error"


def test_inputs_made_one_by_one_encode_like_a_batch(encoder: Encoder) -> None:
    images = [with_mode(shapes_image(i, (150 + 40 * i, 330 - 25 * i)), "RGB") for i in range(5)]
    one_by_one = [encoder.image_inputs(image) for image in images]
    np.testing.assert_allclose(
        encoder.encode_image_inputs(one_by_one), encoder.encode_images(images), atol=1e-5
    )
    assert encoder.encode_image_inputs([]).shape == (0, encoder.dim)


# ---------------------------------------------------------------------------- one batching loop

# The encoder fixture has batch_size 2: no input, exactly one batch, and one batch plus one.
BOUNDARIES = [(0, []), (2, [2]), (3, [2, 1])]


def one_by_one(encode, items: list) -> np.ndarray:
    return np.concatenate([encode([item]) for item in items])


@pytest.mark.parametrize(("count", "slices"), BOUNDARIES)
def test_batched_slices_by_batch_size(encoder: Encoder, count: int, slices: list[int]) -> None:
    seen = []

    def tokens(chunk):
        seen.append(len(chunk))
        return encoder._tokens(chunk)

    vectors = encoder._batched(TEXTS[:count], tokens, encoder.model.get_text_features)
    assert encoder.batch_size == 2 and seen == slices
    assert vectors.shape == (count, encoder.dim) and vectors.dtype == np.float32
    if count:
        np.testing.assert_allclose(vectors, one_by_one(encoder.encode_texts, TEXTS[:count]), atol=1e-5)


@pytest.mark.parametrize(("count", "slices"), BOUNDARIES)
def test_every_encode_method_matches_one_by_one_at_batch_boundaries(
    encoder: Encoder, count: int, slices: list[int]
) -> None:
    images = [shapes_image(i, (190 + 20 * i, 250 - 15 * i)) for i in range(count)]
    inputs = [encoder.image_inputs(image) for image in images]
    results = {
        "texts": (encoder.encode_texts(TEXTS[:count]), encoder.encode_texts, TEXTS[:count]),
        "images": (encoder.encode_images(images), encoder.encode_images, images),
        "inputs": (encoder.encode_image_inputs(inputs), encoder.encode_image_inputs, inputs),
    }
    for name, (batched, encode, items) in results.items():
        assert batched.shape == (count, encoder.dim) and batched.dtype == np.float32, name
        if count:
            np.testing.assert_allclose(batched, one_by_one(encode, items), atol=1e-5, err_msg=name)
    np.testing.assert_array_equal(results["images"][0], results["inputs"][0])


# ---------------------------------------------------------------------------- holder states


def test_holder_goes_idle_loading_ok(encoder: Encoder) -> None:
    seen_while_loading = []

    def loader() -> Encoder:
        seen_while_loading.append(holder.state())
        return encoder

    holder = EncoderHolder(loader)
    assert holder.state() == (EncoderState.IDLE, "")
    assert holder.get() is encoder
    assert seen_while_loading == [(EncoderState.LOADING, "loading the CLIP model")]
    state, detail = holder.state()
    assert state is EncoderState.OK and detail == "demo on cpu, 128 dimensions"
    # A StrEnum: old comparisons with plain strings and JSON keep working.
    assert state == "ok" and json.dumps({"state": state}) == '{"state": "ok"}'


def test_holder_error_is_kept_for_the_cool_down_then_retried(encoder: Encoder) -> None:
    calls = []

    def loader() -> Encoder:  # fails the first time only
        calls.append(1)
        return load_encoder("/nonexistent/clip-model", device="cpu") if len(calls) == 1 else encoder

    holder = EncoderHolder(loader)
    for _ in range(2):  # the second get is within the cool-down: reported again, not retried
        with pytest.raises(ModelUnavailable, match="folder not found"):
            holder.get()
        assert holder.state()[0] is EncoderState.ERROR
    assert len(calls) == 1
    holder.retry_after_error_s = 0  # the cool-down is over
    assert holder.get() is encoder
    assert holder.state()[0] is EncoderState.OK and len(calls) == 2


def test_background_loading_after_an_error_reports_the_error_again() -> None:
    holder = EncoderHolder(lambda: load_encoder("/nonexistent/clip-model", device="cpu"))
    with pytest.raises(ModelUnavailable):
        holder.get()
    thread = holder.start_loading_in_background()  # an error is not "ok" or "loading": may start
    assert thread is not None
    thread.join(10)
    assert holder.state()[0] is EncoderState.ERROR


# ---------------------------------------------------------------------------- the facade


def test_model_unavailable_is_a_503() -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        load_encoder("/nonexistent/clip-model", device="cpu")
    assert isinstance(caught.value, ModelUnavailable) and isinstance(caught.value, RuntimeError)
    assert caught.value.status_code == 503
    assert str(caught.value).endswith("or CLIP_MODEL=demo for an offline demo model.")


def test_facade_exposes_the_public_names() -> None:
    from search.engines.encoder.loading import load_encoder as loading_load_encoder
    from search.engines.encoder.model import Encoder as model_encoder

    assert encoder_package.Encoder is model_encoder
    assert encoder_package.load_encoder is loading_load_encoder
    assert set(encoder_package.__all__) == {
        "DEMO_MODELS",
        "DEMO_MODEL_ID",
        "Encoder",
        "EncoderHolder",
        "EncoderState",
        "ModelUnavailable",
        "current_model",
        "encoder_state",
        "get_encoder",
        "load_encoder",
        "loaded_models",
        "release_models",
        "start_loading_in_background",
        "use_model",
        "wait_for_encoder",
    }
    assert all(hasattr(encoder_package, name) for name in encoder_package.__all__)
    with pytest.raises(AttributeError):
        encoder_package.no_such_name  # noqa: B018


def test_web_processes_import_the_package_without_torch(tmp_path: Path) -> None:
    code = (
        "import django, sys; django.setup(); import search.engines.encoder, search.pipeline.worker_status; "
        "from search.engines.encoder import encoder_state, ModelUnavailable; "
        "print(encoder_state()[0], 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    # TMPDIR: the child's throw-away DATA_DIR goes under tmp_path and is cleaned with it.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.test_settings", "TMPDIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["idle", "False", "False"]


def test_a_worker_sets_the_torch_threads_of_its_role(settings) -> None:
    """The ingest worker's TORCH_NUM_THREADS, the query worker's QUERY_TORCH_THREADS
    (search.pipeline.worker)."""
    before = torch.get_num_threads()
    try:
        load_encoder("demo", device="cpu", threads=1)
        assert torch.get_num_threads() == 1
        settings.TORCH_NUM_THREADS = 2
        load_encoder("demo", device="cpu")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_encodes_in_fp16_from_pinned_memory_like_the_cpu() -> None:
    cpu = load_encoder("demo", device="cpu")
    gpu = load_encoder("demo", device="cuda")
    assert gpu.dtype == torch.float16 and gpu.on_cuda and not cpu.on_cuda
    moved = gpu._to_model(cpu.image_inputs(Image.new("RGB", (300, 200), (200, 30, 30))))
    assert moved["pixel_values"].device.type == "cuda" and moved["pixel_values"].dtype == torch.float16
    images = [Image.new("RGB", (300, 200), colour) for colour in ((200, 30, 30), (30, 200, 30))]
    cosine = (cpu.encode_images(images) * gpu.encode_images(images)).sum(axis=1)
    assert cosine.min() > 0.999
    texts = (cpu.encode_texts(["a red circle"]) * gpu.encode_texts(["a red circle"])).sum()
    assert texts > 0.999


# ------------------------------------------------------------------ a second model (issue 19's switch)


def test_demo_64_is_a_second_model_of_another_dimension_through_the_real_loader(encoder: Encoder) -> None:
    other = load_encoder("demo-64", device="cpu")
    assert (other.model_id, other.dim, other.is_demo) == ("demo-64", 64, True)
    assert encoder.dim == 128
    assert other.encode_images([shapes_image(1)]).shape == (1, 64)
    # Its own folder, beside the first demo's, made by the same build_once.
    assert (Path(settings.MODEL_CACHE_DIR) / f"{DEMO_DIR_NAME}-64" / "config.json").is_file()


def test_a_process_holds_each_model_once_and_lets_the_old_one_go(monkeypatch, encoder: Encoder) -> None:
    from search.engines.encoder import holder as holder_module

    made: list[str] = []

    def fake_load(threads=None, model_id=None):
        made.append(model_id)
        return encoder

    monkeypatch.setattr(holder_module, "_load_configured", fake_load)
    monkeypatch.setattr(holder_module, "_holder", EncoderHolder())
    monkeypatch.setattr(holder_module, "_others", {})
    monkeypatch.setattr(holder_module, "_current", None)

    assert holder_module.get_encoder() is encoder  # settings.CLIP_MODEL's holder
    assert holder_module.get_encoder("demo-64") is encoder
    assert holder_module.get_encoder("demo-64") is encoder
    assert made == [None, "demo-64"]  # once each

    holder_module.use_model("demo-64")
    assert holder_module.current_model() == "demo-64"
    assert holder_module.holder_for() is holder_module._others["demo-64"]
    assert holder_module.loaded_models() == ["demo-64", settings.CLIP_MODEL]

    assert holder_module.release_models({"demo-64"}) == [settings.CLIP_MODEL]
    assert holder_module.encoder_state(settings.CLIP_MODEL)[0] == EncoderState.IDLE
    assert holder_module.encoder_state()[0] == EncoderState.OK
    holder_module.use_model(settings.CLIP_MODEL)
    assert holder_module.release_models({settings.CLIP_MODEL}) == ["demo-64"]
    assert holder_module._others == {}


def test_every_model_a_worker_loads_gets_its_roles_torch_threads(monkeypatch, encoder: Encoder) -> None:
    from search.engines.encoder import holder as holder_module

    seen: dict = {}

    def fake_load(threads=None, model_id=None):
        seen[model_id] = threads
        return encoder

    monkeypatch.setattr(holder_module, "_load_configured", fake_load)
    monkeypatch.setattr(holder_module, "_holder", EncoderHolder())
    monkeypatch.setattr(holder_module, "_others", {})
    monkeypatch.setattr(holder_module, "_current", None)
    monkeypatch.setattr(holder_module, "_threads", None)
    holder_module.use_model("demo-64")  # the switch row names another model than CLIP_MODEL
    holder_module.start_loading_in_background(1)  # the query worker's start-up
    holder_module.wait_for_encoder(30)
    holder_module.start_loading_in_background(model_id="demo-32")  # a switch's target, later
    holder_module.wait_for_encoder(30, "demo-32")
    assert seen == {"demo-64": 1, "demo-32": 1}
    holder_module.use_model(None)
