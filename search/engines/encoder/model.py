"""The loaded encoder: images and texts to L2-normalised float32 vectors in one shared space."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import torch
from django.conf import settings
from PIL import Image
from transformers.image_transforms import convert_to_rgb

from .families import family_of_model_type
from .preprocess import UpstreamTransform

T = TypeVar("T")

# Below this many images per thread, splitting a batch costs more than it saves.
_MIN_CHUNK = 4


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
        self.on_cuda = str(device).startswith("cuda")
        config = model.config
        # Each family's own text length, text normalisation and preprocessing
        # (search.engines.encoder.families).
        self.family = family_of_model_type(config.model_type)
        text_config = getattr(config, "text_config", config)
        limits = [
            getattr(text_config, "max_position_embeddings", None),
            tokenizer.model_max_length,
            self.family.context_tokens,  # e.g. Chinese-CLIP: 52 (cn_clip), though BERT's positions are 512
        ]
        self.max_text_tokens = min((n for n in limits if isinstance(n, int) and 0 < n < 100_000), default=77)
        # SigLIP was trained on max_length-padded text and has no attention mask.
        self.text_padding: str | bool = "max_length" if "siglip" in config.model_type else True
        self._upstream = (
            None
            if self.family.preprocessing == "processor"
            else UpstreamTransform(image_processor, square=self.family.preprocessing == "cn_clip")
        )
        # Fast tokenizers are not safe to call from several threads at once ("Already borrowed").
        self._tokenizer_lock = threading.Lock()
        self.preprocess_threads = max(1, settings.PREPROCESS_THREADS)
        self._executor: ThreadPoolExecutor | None = None
        self.dim = int(self.encode_texts([""]).shape[1])

    # ------------------------------------------------------------------ inputs

    def _process_chunk(self, images: Sequence[Image.Image]) -> Any:
        # Same compositing onto white as the processor's own do_convert_rgb, so RGBA/P/L behave alike
        # for processors that lack the option.
        rgb = [Image.fromarray(convert_to_rgb(im, return_numpy=True)) for im in images]
        if self._upstream is not None:
            return self._upstream(rgb)
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

    @staticmethod
    def _stack_inputs(inputs: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {key: torch.cat([one[key] for one in inputs]) for key in inputs[0]}

    def normalise_text(self, text: str) -> str:
        """The family's own text normalisation (SigLIP 2 was trained on lower-cased text)."""
        return text.lower() if self.family.lowercase else text

    def _tokens(self, texts: Sequence[str]) -> Any:
        with self._tokenizer_lock:
            return self.tokenizer(
                [self.normalise_text(t) for t in texts],
                padding=self.text_padding,
                truncation=True,
                max_length=self.max_text_tokens,
                return_tensors="pt",
            )

    def preprocess_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """pixel_values exactly as the model's own processor produces them (float32, on CPU)."""
        return self._image_inputs(images)["pixel_values"]

    def image_inputs(self, image: Image.Image) -> dict[str, torch.Tensor]:
        """One image as model inputs, exactly as the model's own processor makes them. A few
        hundred kB that can be kept while the full-size image is released: the ingest worker
        prepares images in parallel and batches these with `encode_image_inputs`."""
        return dict(self._process_chunk([image]))

    # ------------------------------------------------------------------ encoding

    def _to_model(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.on_cuda:
            return {key: self._to_cuda(value) for key, value in inputs.items()}
        return {
            key: value.to(self.device, self.dtype if value.is_floating_point() else value.dtype)
            for key, value in inputs.items()
        }

    def _to_cuda(self, value: torch.Tensor) -> torch.Tensor:
        """Host tensor to the GPU: from pinned (page-locked) memory, so the copy is a DMA the host
        does not wait for (non_blocking); floats are cast to the model's fp16 there, where the cast
        costs nothing, rather than on the CPU, which ingest keeps busy decoding."""
        if value.device.type == "cpu" and not value.is_pinned():
            value = value.pin_memory()
        value = value.to(self.device, non_blocking=True)
        return value.to(self.dtype) if value.is_floating_point() else value

    def _batched(
        self,
        items: Sequence[T],
        make_inputs: Callable[[Sequence[T]], Mapping[str, torch.Tensor]],
        features: Callable[..., Any],
    ) -> np.ndarray:
        """Vectors for `items`, `batch_size` at a time: `make_inputs` turns one slice into model
        inputs and `features` (get_image_features or get_text_features) embeds them. Batching
        bounds memory; it does not change the vectors."""
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                inputs = self._to_model(make_inputs(items[start : start + self.batch_size]))
                feats = torch.nn.functional.normalize(_features(features(**inputs)).float(), dim=-1)
                parts.append(feats.cpu().numpy().astype(np.float32, copy=False))
        return np.concatenate(parts)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._batched(images, self._image_inputs, self.model.get_image_features)

    def encode_image_inputs(self, inputs: Sequence[dict[str, torch.Tensor]]) -> np.ndarray:
        """`encode_images` for inputs made by `image_inputs`, in batches of `batch_size`."""
        return self._batched(inputs, self._stack_inputs, self.model.get_image_features)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._batched(texts, self._tokens, self.model.get_text_features)

    def characters_read(self, text: str) -> int | None:
        """How many characters of `text` the model reads (it reads `max_text_tokens` tokens, special
        ones included); None when it reads all of it."""
        with self._tokenizer_lock:
            full = self.tokenizer(
                self.normalise_text(text),
                truncation=False,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
                verbose=False,
            )
        if len(full["input_ids"]) <= self.max_text_tokens:
            return None
        mask = full["special_tokens_mask"]
        kept = max(0, self.max_text_tokens - sum(mask))
        content = [end for (_, end), special in zip(full["offset_mapping"], mask, strict=True) if not special]
        offsets = content[:kept]
        return offsets[-1] if offsets else 0
