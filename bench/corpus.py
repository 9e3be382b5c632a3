"""Pictures for the benchmarks: photo-sized JPEGs with random shapes, and signs with words on them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
WORDS = [
    "harbour",
    "street",
    "bakery",
    "lake",
    "sunset",
    "beach",
    "mountain",
    "river",
    "city",
    "night",
    "market",
    "bicycle",
    "garden",
    "train",
    "station",
    "bridge",
    "winter",
    "snow",
    "festival",
    "coffee",
    "noodle",
    "temple",
    "museum",
    "library",
    "park",
    "西湖",
    "面条",
    "杭州",
    "上海",
    "北京",
    "欢迎",
    "光临",
    "今日",
    "特价",
    "牛肉",
]


def synthetic_photo(seed: int, size=(1024, 768)) -> bytes:
    """A JPEG with random shapes: decode/resize cost like a real photo upload."""
    rng = np.random.default_rng(seed)
    image = PILImage.new("RGB", size, tuple(int(c) for c in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.integers(0, size[0]), rng.integers(0, size[1])
        x1, y1 = x0 + rng.integers(20, 400), y0 + rng.integers(20, 300)
        fill = tuple(int(c) for c in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def drawn_sign(seed: int) -> PILImage.Image:
    """A photo-sized picture with two lines of words on it (Chinese needs the CJK font)."""
    rng = np.random.default_rng(seed)
    image = PILImage.open(io.BytesIO(synthetic_photo(seed))).convert("RGB")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(CJK_FONT), 56) if CJK_FONT.exists() else ImageFont.load_default(56)
    draw.rectangle((40, 40, 980, 260), fill=(250, 250, 240))
    for row in range(2):
        words = [WORDS[i] for i in rng.integers(0, len(WORDS) if CJK_FONT.exists() else 25, 3)]
        draw.text((60, 60 + row * 100), " ".join(words), font=font, fill=(20, 20, 20))
    return image


def query_texts(count: int, seed: int = 7) -> list[str]:
    """One or two words of WORDS: what people type, and what the corpus titles and signs hold."""
    rng = np.random.default_rng(seed)
    return [
        " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), int(rng.integers(1, 3)))) for _ in range(count)
    ]
