"""Finding and loading a CLIP-style model: the demo, a local folder, the local cache or the hub."""

from __future__ import annotations

import logging
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from django.conf import settings
from huggingface_hub.constants import ENDPOINT
from huggingface_hub.utils import validate_repo_id
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

from .demo import build_once, ensure_demo_model
from .demo_families import BUILDERS
from .errors import DEMO_MODELS, ModelUnavailable, first_line, unavailable
from .model import Encoder

logger = logging.getLogger(__name__)


def resolve_device(device: str | None) -> str:
    """The device to run on: the argument, else settings.CLIP_DEVICE, else CUDA when usable."""
    device = device or settings.CLIP_DEVICE
    if not device:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailable(
            f"CLIP_DEVICE is {device!r} but no CUDA GPU is usable here. Unset CLIP_DEVICE to use the CPU."
        )
    return device


def dtype_for(device: str) -> torch.dtype:
    # float16 on CUDA for memory and speed; on CPUs float16 kernels are slow or missing.
    return torch.float16 if device.startswith("cuda") else torch.float32


def _hub_unresolvable() -> str | None:
    """Why the Hugging Face hub is certainly unreachable, so we fail at once instead of retrying."""
    if urllib.request.getproxies():  # a proxy may reach what local DNS cannot
        return None
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
            raise unavailable(
                model_id, f"the folder does not hold a usable model ({first_line(exc)})"
            ) from exc
    if folder.is_absolute() or model_id.startswith((".", "~")):
        raise unavailable(model_id, "folder not found")

    try:
        validate_repo_id(model_id)
    except Exception as exc:
        raise unavailable(model_id, "not a folder and not a valid Hugging Face model id") from exc
    try:  # the local cache first: works offline and costs no network round trips
        return _load_parts(model_id, dtype, local_only=True)
    except Exception as exc:  # any failure here just means "not cached"
        logger.debug("%r is not in the local cache: %s", model_id, exc)
    reason = _hub_unresolvable()
    if reason:
        raise unavailable(model_id, reason)
    try:
        return _load_parts(model_id, dtype, local_only=False)
    except Exception as exc:
        raise unavailable(model_id, f"download failed or model not found ({first_line(exc)})") from exc


def _demo_folder(model_id: str) -> Path:
    cache = Path(settings.MODEL_CACHE_DIR)
    if model_id in BUILDERS:
        name, build = BUILDERS[model_id]
        return build_once(cache / name, build)
    return ensure_demo_model(cache, DEMO_MODELS[model_id])


def _demo_source(model_id: str) -> str:
    try:
        return str(_demo_folder(model_id))
    except Exception as exc:
        raise unavailable(model_id, f"building the demo model failed ({first_line(exc)})") from exc


def load_encoder(
    model_id: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    threads: int | None = None,
) -> Encoder:
    """Load a CLIP-style model: "demo", a Hugging Face model id, or a local folder. `threads`: torch's
    intra-op threads for this process (default settings.TORCH_NUM_THREADS; 0 keeps torch's own)."""
    model_id = (model_id or settings.CLIP_MODEL).strip()
    device = resolve_device(device)
    threads = settings.TORCH_NUM_THREADS if threads is None else threads
    if threads:
        torch.set_num_threads(threads)
    started = time.monotonic()
    is_demo = model_id in DEMO_MODELS
    source = _demo_source(model_id) if is_demo else model_id
    model, image_processor, tokenizer = _load_from(source, dtype_for(device))
    if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
        raise unavailable(model_id, f"{type(model).__name__} is not a CLIP-style image-text model")
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
        raise unavailable(model_id, f"the model does not run ({first_line(exc)})") from exc
    logger.info(
        "Loaded CLIP model %r on %s (dim %d) in %.1f s",
        model_id,
        device,
        encoder.dim,
        time.monotonic() - started,
    )
    return encoder
