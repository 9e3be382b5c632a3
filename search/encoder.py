"""CLIP-style image and text encoder: the only module that imports torch and transformers."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch
from django.conf import settings
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer
from transformers.image_transforms import convert_to_rgb

logger = logging.getLogger(__name__)

DEMO_MODEL_ID = "demo"
HOW_TO_FIX = (
    "Set CLIP_MODEL to a local folder with a downloaded model, or CLIP_MODEL=demo for an offline demo model."
)


class ModelUnavailable(RuntimeError):
    """The configured model cannot be loaded; the message says why and how to fix it."""


def _unavailable(model_id: str, reason: str) -> ModelUnavailable:
    return ModelUnavailable(f"Could not load CLIP model {model_id!r}: {reason}. {HOW_TO_FIX}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _features(output: Any) -> torch.Tensor:
    # transformers 5 returns BaseModelOutputWithPooling (projected embeddings in pooler_output);
    # older versions and some models return the tensor itself.
    if isinstance(output, torch.Tensor):
        return output
    for name in ("pooler_output", "image_embeds", "text_embeds"):
        value = getattr(output, name, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"unexpected feature output type {type(output).__name__}")


# Below this many images per thread, splitting a batch costs more than it saves.
_MIN_CHUNK = 4


class Encoder:
    """Turns images and texts into L2-normalised float32 vectors in one shared space."""

    def __init__(
        self,
        model_id: str,
        model: Any,
        image_processor: Any,
        tokenizer: Any,
        device: str,
        is_demo: bool,
        batch_size: int,
    ) -> None:
        self.model_id = model_id
        self.model = model
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.device = device
        self.is_demo = is_demo
        self.batch_size = max(1, batch_size)
        self.dtype: torch.dtype = next(model.parameters()).dtype
        config = model.config
        text_config = getattr(config, "text_config", config)
        limits = [
            getattr(text_config, "max_position_embeddings", None),
            tokenizer.model_max_length,
        ]
        self.max_text_tokens = min((n for n in limits if isinstance(n, int) and 0 < n < 100_000), default=77)
        # SigLIP was trained on max_length-padded text and has no attention mask.
        self.text_padding: str | bool = "max_length" if "siglip" in config.model_type else True
        # Fast tokenizers are not safe to call from several threads at once ("Already borrowed").
        self._tokenizer_lock = threading.Lock()
        self.preprocess_threads = max(1, settings.PREPROCESS_THREADS)
        self._executor: ThreadPoolExecutor | None = None
        self.dim = int(self.encode_texts([""]).shape[1])

    def _process_chunk(self, images: Sequence[Image.Image]) -> Any:
        # Same compositing onto white as the processor's own do_convert_rgb, so RGBA/P/L behave alike
        # for processors that lack the option.
        rgb = [Image.fromarray(convert_to_rgb(im, return_numpy=True)) for im in images]
        return self.image_processor(images=rgb, return_tensors="pt")

    def _image_inputs(self, images: Sequence[Image.Image]) -> Any:
        """The processor's output for the batch; large batches are processed in parallel chunks
        (resizing is per image, so the result is identical) because on a GPU it is the bottleneck."""
        threads = min(self.preprocess_threads, len(images) // _MIN_CHUNK)
        if threads <= 1:
            return self._process_chunk(images)
        size = -(-len(images) // threads)
        chunks = [images[i : i + size] for i in range(0, len(images), size)]
        outputs = list(self._pool().map(self._process_chunk, chunks))
        return {key: torch.cat([out[key] for out in outputs]) for key in outputs[0]}

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.preprocess_threads, thread_name_prefix="preprocess")
        return self._executor

    def preprocess_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """pixel_values exactly as the model's own processor produces them (float32, on CPU)."""
        return self._image_inputs(images)["pixel_values"]

    def _to_model(self, inputs: Any) -> dict[str, torch.Tensor]:
        return {
            key: value.to(self.device, self.dtype if value.is_floating_point() else value.dtype)
            for key, value in inputs.items()
        }

    def _finish(self, output: Any) -> np.ndarray:
        feats = torch.nn.functional.normalize(_features(output).float(), dim=-1)
        return feats.cpu().numpy().astype(np.float32, copy=False)

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dim), dtype=np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return self._empty()
        parts = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                inputs = self._to_model(self._image_inputs(images[start : start + self.batch_size]))
                parts.append(self._finish(self.model.get_image_features(**inputs)))
        return np.concatenate(parts)

    def image_inputs(self, image: Image.Image) -> dict[str, torch.Tensor]:
        """One image as model inputs, exactly as the model's own processor makes them. A few
        hundred kB that can be kept while the full-size image is released: the ingest worker
        prepares images in parallel and batches these with `encode_image_inputs`."""
        return dict(self._process_chunk([image]))

    def encode_image_inputs(self, inputs: Sequence[dict[str, torch.Tensor]]) -> np.ndarray:
        """`encode_images` for inputs made by `image_inputs`, in batches of `batch_size`."""
        if not inputs:
            return self._empty()
        parts = []
        with torch.inference_mode():
            for start in range(0, len(inputs), self.batch_size):
                chunk = inputs[start : start + self.batch_size]
                batch = {key: torch.cat([one[key] for one in chunk]) for key in chunk[0]}
                parts.append(self._finish(self.model.get_image_features(**self._to_model(batch))))
        return np.concatenate(parts)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self._empty()
        parts = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                with self._tokenizer_lock:
                    tokens = self.tokenizer(
                        list(texts[start : start + self.batch_size]),
                        padding=self.text_padding,
                        truncation=True,
                        max_length=self.max_text_tokens,
                        return_tensors="pt",
                    )
                parts.append(self._finish(self.model.get_text_features(**self._to_model(tokens))))
        return np.concatenate(parts)


def _resolve_device(device: str | None) -> str:
    device = device or settings.CLIP_DEVICE
    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailable(
            f"CLIP_DEVICE is {device!r} but no CUDA GPU is usable here. Unset CLIP_DEVICE to use the CPU."
        )
    return device


def _hub_unresolvable() -> str | None:
    """Why the Hugging Face hub is certainly unreachable, so we fail at once instead of retrying."""
    if urllib.request.getproxies():  # a proxy may reach what local DNS cannot
        return None
    from huggingface_hub.constants import ENDPOINT

    host = urlparse(ENDPOINT).hostname or ""
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return f"no internet connection ({host} cannot be resolved) and it is not in the local cache"
    return None


def _load_parts(source: str, dtype: torch.dtype, local_only: bool) -> tuple[Any, Any, Any]:
    kwargs = {"local_files_only": local_only}
    model = AutoModel.from_pretrained(source, dtype=dtype, **kwargs)
    image_processor = AutoImageProcessor.from_pretrained(source, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    return model, image_processor, tokenizer


def _load_from(model_id: str, dtype: torch.dtype) -> tuple[Any, Any, Any]:
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        try:
            return _load_parts(str(folder), dtype, local_only=True)
        except Exception as exc:
            raise _unavailable(
                model_id,
                f"the folder does not hold a usable model ({_first_line(exc)})",
            ) from exc
    if folder.is_absolute() or model_id.startswith((".", "~")):
        raise _unavailable(model_id, "folder not found")

    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model_id)
    except Exception as exc:
        raise _unavailable(model_id, "not a folder and not a valid Hugging Face model id") from exc
    try:  # the local cache first: works offline and costs no network round trips
        return _load_parts(model_id, dtype, local_only=True)
    except Exception as exc:  # any failure here just means "not cached"
        logger.debug("%r is not in the local cache: %s", model_id, exc)
    reason = _hub_unresolvable()
    if reason:
        raise _unavailable(model_id, reason)
    try:
        return _load_parts(model_id, dtype, local_only=False)
    except Exception as exc:
        raise _unavailable(model_id, f"download failed or model not found ({_first_line(exc)})") from exc


def load_encoder(
    model_id: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
) -> Encoder:
    """Load a CLIP-style model: "demo", a Hugging Face model id, or a local folder."""
    model_id = (model_id or settings.CLIP_MODEL).strip()
    device = _resolve_device(device)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    if settings.TORCH_NUM_THREADS:
        torch.set_num_threads(settings.TORCH_NUM_THREADS)
    started = time.monotonic()
    is_demo = model_id == DEMO_MODEL_ID
    if is_demo:
        from search.demo_model import ensure_demo_model

        try:
            source = str(ensure_demo_model(Path(settings.MODEL_CACHE_DIR)))
        except Exception as exc:
            raise _unavailable(model_id, f"building the demo model failed ({_first_line(exc)})") from exc
    else:
        source = model_id
    model, image_processor, tokenizer = _load_from(source, dtype)
    if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
        raise _unavailable(model_id, f"{type(model).__name__} is not a CLIP-style image-text model")
    try:
        model = model.to(device).eval()
        encoder = Encoder(
            model_id,
            model,
            image_processor,
            tokenizer,
            device,
            is_demo,
            batch_size or settings.ENCODE_BATCH_SIZE,
        )
    except Exception as exc:
        raise _unavailable(model_id, f"the model does not run ({_first_line(exc)})") from exc
    logger.info(
        "Loaded CLIP model %r on %s (dim %d) in %.1f s",
        model_id,
        device,
        encoder.dim,
        time.monotonic() - started,
    )
    return encoder


class EncoderHolder:
    """Loads one encoder lazily, once, and reports its state without blocking."""

    retry_after_error_s = 30.0

    def __init__(self, loader: Callable[[], Encoder] = load_encoder) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._encoder: Encoder | None = None
        self._error: ModelUnavailable | None = None
        self._error_at = 0.0
        self._state: tuple[str, str] = ("idle", "")

    def state(self) -> tuple[str, str]:
        return self._state

    def get(self) -> Encoder:
        if self._encoder is not None:
            return self._encoder
        with self._lock:
            if self._encoder is not None:
                return self._encoder
            # Within the cool-down a failed load is reported again, not retried on every request.
            if self._error and time.monotonic() - self._error_at < self.retry_after_error_s:
                self._state = ("error", str(self._error))
                raise ModelUnavailable(str(self._error))
            self._state = ("loading", "loading the CLIP model")
            try:
                encoder = self._loader()
            except Exception as exc:
                error = (
                    exc
                    if isinstance(exc, ModelUnavailable)
                    else ModelUnavailable(f"Could not load the CLIP model: {exc}. {HOW_TO_FIX}")
                )
                self._error, self._error_at = error, time.monotonic()
                self._state = ("error", str(error))
                if error is exc:
                    raise
                raise error from exc
            self._encoder, self._error = encoder, None
            self._state = (
                "ok",
                f"{encoder.model_id} on {encoder.device}, {encoder.dim} dimensions",
            )
            return encoder

    def start_loading_in_background(self) -> threading.Thread | None:
        with self._start_lock:
            if self._state[0] in ("ok", "loading"):
                return None
            self._state = ("loading", "loading the CLIP model")
            thread = threading.Thread(target=self._load_quietly, name="clip-loader", daemon=True)
            thread.start()
            return thread

    def _load_quietly(self) -> None:
        try:
            self.get()
        except ModelUnavailable as exc:
            logger.error("%s", exc)


_holder = EncoderHolder()


def get_encoder() -> Encoder:
    """The process-wide encoder for settings.CLIP_MODEL, loaded on first use."""
    return _holder.get()


def encoder_state() -> tuple[str, str]:
    """("ok" | "loading" | "error" | "idle", detail) of the process-wide encoder."""
    return _holder.state()


def start_loading_in_background() -> None:
    _holder.start_loading_in_background()
