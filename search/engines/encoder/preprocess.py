"""Image preprocessing as the upstream projects do it, for the families whose own code cannot run
here (open_clip and cn_clip build it from torchvision, which does not install beside this torch).

Both are torchvision transforms on a PIL image: `Resize` (the shorter side to `size`, the longer
one `int(size * long / short)`; or a square `(size, size)` for Chinese-CLIP), then for CLIP
`CenterCrop` (offsets `int(round((side - crop) / 2))`), then `ToTensor` (/255 in float32) and
`Normalize`. transformers' processor differs in one place: its centre crop takes
`(side - crop) // 2`, one pixel off whenever the margin is odd (a 640x427 photo: 335 px wide after
the resize, crop from x=56 upstream and x=55 in transformers), which moves every embedding.
The sizes, mean and std are the model's own (its processor config).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image


def _side(value: Any, *names: str) -> int | None:
    if isinstance(value, int):
        return value
    for name in names:  # a dict, or transformers 5's SizeDict (attributes)
        found = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
        if isinstance(found, int):
            return found
    return None


class UpstreamTransform:
    """open_clip's (shortest-side resize, centre crop) or cn_clip's (square resize) transform."""

    def __init__(self, processor: Any, square: bool) -> None:
        size = getattr(processor, "size", None)
        self.square = square
        if square:
            self.size = _side(size, "height", "shortest_edge") or 224
            self.crop = None
        else:
            self.size = _side(size, "shortest_edge", "height") or 224
            crop = getattr(processor, "crop_size", None)
            self.crop = _side(crop, "height") if getattr(processor, "do_center_crop", True) else None
        resample = getattr(processor, "resample", Image.Resampling.BICUBIC)
        self.resample = Image.Resampling(int(resample))
        self.mean = np.asarray(processor.image_mean, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(processor.image_std, dtype=np.float32).reshape(3, 1, 1)

    def _resize(self, image: Image.Image) -> Image.Image:
        if self.square:
            return image.resize((self.size, self.size), self.resample)
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.size, int(self.size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        return image.resize((new_w, new_h), self.resample)

    def _center_crop(self, image: Image.Image) -> Image.Image:
        if self.crop is None:
            return image
        w, h = image.size
        top = int(round((h - self.crop) / 2.0))
        left = int(round((w - self.crop) / 2.0))
        return image.crop((left, top, left + self.crop, top + self.crop))

    def __call__(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        arrays = []
        for image in images:
            pixels = self._center_crop(self._resize(image.convert("RGB")))
            chw = np.asarray(pixels, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32) / np.float32(255)
            arrays.append((chw - self.mean) / self.std)
        return {"pixel_values": torch.from_numpy(np.stack(arrays))}
