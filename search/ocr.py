"""Words inside images: PP-OCRv4 detection and recognition (Chinese and English) run by onnxruntime
through `rapidocr-onnxruntime`, whose wheel ships the models (nothing is downloaded).

A leaf: the only code that imports rapidocr / onnxruntime, and it imports no app. It takes a
decoded Pillow image and gives back plain data; the caller stores it.

Cost control: the image is scaled down to `max_side` first (OCR is by far the slowest step of
ingest, and signs, captions and pages stay legible at that size), and recognition only runs on
the regions detection found: a photo without text costs one detection pass."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image as PILImage
from rapidocr_onnxruntime import RapidOCR

MIN_SCORE = 0.5  # recognitions less sure than this are dropped (rapidocr's own default)
USE_CLS = False  # the angle classifier only helps upside-down lines and costs a pass per line

_engine: RapidOCR | None = None
_lock = threading.RLock()


@dataclass(frozen=True)
class TextBox:
    text: str
    box: list[list[int]]  # four [x, y] corners in the original image's pixels
    score: float

    def as_dict(self) -> dict:
        return {"text": self.text, "box": self.box, "score": round(self.score, 4)}


@dataclass(frozen=True)
class OcrResult:
    boxes: list[TextBox] = field(default_factory=list)
    millis: int = 0

    @property
    def text(self) -> str:
        """The lines in reading order: boxes side by side form one line, left to right."""
        return "\n".join(" ".join(b.text for b in line) for line in lines(self.boxes))


def _span(box: TextBox) -> tuple[float, float]:
    ys = [y for _, y in box.box]
    return min(ys), max(ys)


def lines(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Boxes grouped into lines: a box whose vertical centre lies within the current line's extent
    joins it (detection often splits one line into words)."""
    grouped: list[list[TextBox]] = []
    extent = (0.0, -1.0)
    for box in sorted(boxes, key=lambda b: sum(_span(b)) / 2):
        top, bottom = _span(box)
        centre = (top + bottom) / 2
        if grouped and extent[0] <= centre <= extent[1]:
            grouped[-1].append(box)
            extent = (min(extent[0], top), max(extent[1], bottom))
        else:
            grouped.append([box])
            extent = (top, bottom)
    return [sorted(line, key=lambda b: min(x for x, _ in b.box)) for line in grouped]


def engine(threads: int | None = None) -> RapidOCR:
    """The process-wide engine (loading the three ONNX models takes about a second). `threads`:
    onnxruntime's intra-op threads, fixed when the engine is made (None: onnxruntime's default)."""
    global _engine
    with _lock:
        if _engine is None:
            # One inter-op thread: the models are sequential graphs; parallelism is intra-op.
            sized = {"intra_op_num_threads": threads, "inter_op_num_threads": 1} if threads else {}
            _engine = RapidOCR(print_verbose=False, **sized)
        return _engine


def working_copy(image: PILImage.Image, max_side: int) -> tuple[np.ndarray, float]:
    """RGB pixels as the BGR array the models expect, scaled so the longer side is at most
    `max_side`, and the factor that maps its coordinates back to the original."""
    image = image.convert("RGB")
    scale = 1.0
    longest = max(image.size)
    if longest > max_side:
        scale = max_side / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, PILImage.Resampling.BILINEAR)
    return np.asarray(image)[:, :, ::-1].copy(), scale


def read_text(image: PILImage.Image, max_side: int = 1600, threads: int | None = None) -> OcrResult:
    """The text lines found in `image` (none for a picture without text)."""
    started = time.perf_counter()
    pixels, scale = working_copy(image, max_side)
    with _lock:  # one onnxruntime session set per process, used by one thread at a time
        found, _ = engine(threads)(pixels, use_det=True, use_cls=USE_CLS, use_rec=True)
    boxes: list[TextBox] = []
    for box, text, score in found or []:
        text = " ".join(str(text).split())
        if not text or float(score) < MIN_SCORE:
            continue
        corners = [[round(float(x) / scale), round(float(y) / scale)] for x, y in box]
        boxes.append(TextBox(text, corners, float(score)))
    boxes = [b for line in lines(boxes) for b in line]
    return OcrResult(boxes, round((time.perf_counter() - started) * 1000))
