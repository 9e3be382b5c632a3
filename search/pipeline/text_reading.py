"""OCR as a step after indexing: a worker of its own reads the words inside images from the `ocr`
queue once they are indexed, so reading (0.2-1.5 s an image on a CPU) never delays `indexed` and
never holds the ingest worker (`make run` starts it with OCR_THREADS onnxruntime threads).

Stored in the image's `OcrRun` (`text`, `boxes`), written in one place; the keyword index follows by
its SQL triggers. The run marks an image as read, even when it holds no words, so `reconcile` can
queue exactly the images never read (uploads made while no worker ran, images from before OCR
existed)."""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import asdict, dataclass, field

from celery import current_app
from django.conf import settings
from django.db import IntegrityError
from PIL import Image as PILImage
from PIL import ImageOps

from ingestion.models import Image
from ingestion.storage import read_file

from ..engines.encoder import EncoderState
from ..models import OcrRun

log = logging.getLogger(__name__)

OCR_TASK = "search.tasks.ocr_images"
# Small tasks: a worker serving both queues (one started by hand) alternates between them, so an
# OCR task in progress holds the next indexing batch back by at most a few seconds.
OCR_BATCH = 4


@dataclass
class OcrReport:
    read: list[int] = field(default_factory=list)
    with_text: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    millis: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def enqueue_ocr(ids: list[int]) -> bool:
    """Queue reading of `ids` (indexed images); False when OCR is off or the broker is down
    (`reconcile` queues them later)."""
    if not ids or not settings.OCR_ENABLED:
        return False
    try:
        for start in range(0, len(ids), OCR_BATCH):
            current_app.send_task(OCR_TASK, args=[list(ids[start : start + OCR_BATCH])], retry=False)
    except Exception as exc:  # the images are indexed and searchable; only their words wait
        log.warning("Could not queue OCR of %d image(s); reconcile will: %s", len(ids), exc)
        return False
    return True


def start_warming_up() -> threading.Thread | None:
    """Load the OCR engine in the background, so the worker is ready before the first image; the
    loading thread (None when OCR is off or the engine is loaded or loading already)."""
    if not settings.OCR_ENABLED:
        return None
    from ..engines import ocr  # deferred: see read_images

    return ocr.engine().start_loading_in_background(settings.OCR_THREADS)


def reader_state() -> tuple[EncoderState, str]:
    """The OCR worker's readiness: its engine's life cycle, in the states every worker publishes
    (search.pipeline.worker_status); a failed load says why."""
    if not settings.OCR_ENABLED:
        return EncoderState.OK, "OCR is off (OCR_ENABLED)"
    from ..engines import ocr  # deferred: see read_images

    state, detail = ocr.engine().state()
    return EncoderState(state), detail  # the same words (ocr.OcrState)


def unread_ids() -> list[int]:
    """Indexed images that were never read."""
    return list(
        Image.objects.filter(status=Image.Status.INDEXED, ocr_run__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def decode_for_ocr(data: bytes, max_side: int) -> PILImage.Image:
    """First frame, EXIF orientation, RGB; a JPEG is decoded at a reduced scale when it is much
    larger than the working size (the draft decode costs a fraction of a full one)."""
    with PILImage.open(io.BytesIO(data)) as img:
        img.seek(0)
        if img.format == "JPEG":
            img.draft("RGB", (max_side, max_side))
        return ImageOps.exif_transpose(img).convert("RGB")


def read_images(ids: list[int], *, force: bool = False) -> OcrReport:
    """Read the words of the indexed images among `ids` (those not read yet, unless `force`)."""
    # Deferred: OpenCV and onnxruntime (about 100 MB) load only in the worker that reads, never in
    # web processes, which import the task module to send tasks.
    from ..engines import ocr

    report = OcrReport()
    images = Image.objects.filter(pk__in=ids, status=Image.Status.INDEXED).order_by("pk")
    if not force:
        images = images.filter(ocr_run__isnull=True)
    for image in images.only("pk", "original", "width", "height"):
        started = time.perf_counter()
        try:
            picture = decode_for_ocr(read_file(image.original.name), settings.OCR_MAX_SIDE)
            # Boxes come back in the working copy's pixels scaled to the decoded picture; map them
            # to the stored width and height (a draft decode is smaller than the original).
            found = ocr.read_text(picture, settings.OCR_MAX_SIDE, threads=settings.OCR_THREADS)
            factor = image.width / picture.width if picture.width else 1.0
            boxes = [
                {**b.as_dict(), "box": [[round(x * factor), round(y * factor)] for x, y in b.box]}
                for b in found.boxes
            ]
            text, error = found.text, ""
        except Exception as exc:  # a damaged file or a model failure: the image stays searchable
            log.warning("OCR of image %s failed: %s", image.pk, exc)
            text, boxes, error = "", [], f"{type(exc).__name__}: {exc}"[:500]
            report.failed.append(image.pk)
        millis = round((time.perf_counter() - started) * 1000)
        report.millis += millis
        if not Image.objects.filter(pk=image.pk).exists():
            continue  # deleted or trashed meanwhile (SQLite checks the foreign key only at commit)
        try:
            OcrRun.objects.update_or_create(
                image_id=image.pk, defaults={"text": text, "boxes": boxes, "millis": millis, "error": error}
            )
        except IntegrityError:
            continue  # deleted meanwhile
        report.read.append(image.pk)
        if text:
            report.with_text.append(image.pk)
    return report
