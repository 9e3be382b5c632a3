"""Builders for test data: Pillow-drawn images, users, image rows, API clients, and a look at what
Milvus stores. Every test builds its own data with these; none is shared between tests."""

from __future__ import annotations

import io
import uuid

import numpy as np
from django.contrib.auth import get_user_model
from django.test import Client
from PIL import Image as PILImage
from PIL import ImageDraw
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from bench.huge_images import huge_jpeg, huge_png  # noqa: F401 (the tests' huge images)
from ingestion import services
from ingestion.intake import Intake, Source
from ingestion.models import Image
from search import vectors
from search.engines.vector_store import PK, VECTOR, VectorStore, get_client
from search.models import HashVariant, OcrRun
from search.pipeline import switching
from search.pipeline.indexing import IndexReport, index_images
from search.variants import PLAIN

PASSWORD = "s3cret-pass"


# ---------------------------------------------------------------------------- pictures


def draw_image(
    kind: str = "circle",
    size: tuple[int, int] = (320, 240),
    color=(200, 30, 30),
    background=(240, 240, 240),
    mode: str = "RGB",
) -> PILImage.Image:
    """A simple, distinct picture."""
    image = PILImage.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    w, h = size
    if kind == "circle":
        draw.ellipse((w * 0.2, h * 0.2, w * 0.8, h * 0.8), fill=color)
    elif kind == "square":
        draw.rectangle((w * 0.25, h * 0.25, w * 0.75, h * 0.75), fill=color)
    elif kind == "stripes":
        for x in range(0, w, 20):
            draw.rectangle((x, 0, x + 9, h), fill=color)
    elif kind == "triangle":
        draw.polygon([(w * 0.5, h * 0.1), (w * 0.9, h * 0.9), (w * 0.1, h * 0.9)], fill=color)
    else:
        raise ValueError(kind)
    return image.convert(mode) if mode != "RGB" else image


def image_bytes(image: PILImage.Image, fmt: str = "PNG", **save_args) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **save_args)
    return out.getvalue()


def noise_png(seed: int | None = None, size: tuple[int, int] = (64, 48)) -> bytes:
    """A picture no other test draws: safe to damage or delete its stored file."""
    rng = np.random.default_rng(seed if seed is not None else uuid.uuid4().int % 2**32)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return image_bytes(PILImage.fromarray(pixels), "PNG")


# ---------------------------------------------------------------------------- users and clients


def make_user(username: str = "alice", **extra):
    return get_user_model().objects.create_user(username, password=PASSWORD, **extra)


def signed_in(user, **kwargs) -> Client:
    """A page client with `user`'s session (signed in through the real login)."""
    client = Client(**kwargs)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def api_client(user=None) -> APIClient:
    """An API client authenticated with a real token (anonymous without a user)."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


# ---------------------------------------------------------------------------- images


def make_image(
    owner,
    kind: str = "circle",
    *,
    data: bytes | None = None,
    color=(200, 30, 30),
    title: str = "",
    tags: list[str] | None = None,
    visibility: str = Image.Visibility.PUBLIC,
    created_at=None,
) -> Image:
    """A pending row with its stored original, created as an upload would be (without announcing
    it, so no worker indexes it behind the test's back)."""
    data = data if data is not None else image_bytes(draw_image(kind, color=color), "PNG")
    intake = Intake(
        owner=owner,
        data=data,
        source=Source.SCRIPT,
        filename=f"{kind}.png",
        title=title or kind,
        tags=tags or (),
        visibility=visibility,
        allow_duplicate=True,  # tests make copies on purpose
    )
    image = services.create_image(intake, announce=False)
    if created_at is not None:
        Image.objects.filter(pk=image.pk).update(created_at=created_at)
        image.refresh_from_db()
    return image


def read_words(image: Image | int, text: str, boxes: list | None = None) -> None:
    """Store the words read in an image where the OCR worker does (search's `OcrRun`), without
    running the OCR engine: the keyword index follows by its triggers."""
    pk = image if isinstance(image, int) else image.pk
    OcrRun.objects.update_or_create(image_id=pk, defaults={"text": text, "boxes": boxes or []})


def index(*images: Image, force: bool = False) -> IndexReport:
    """Run the real indexing pipeline in this process and refresh the rows."""
    report = index_images([i.pk for i in images], force=force)
    for image in images:
        image.refresh_from_db()
    return report


def plain_hash(image: Image) -> HashVariant:
    """The image's own PDQ hash: search keeps it as the image's variant of kind "plain"."""
    return HashVariant.objects.get(image_id=image.pk, kind=PLAIN)
def vector_of(image: Image, model_id: str | None = None) -> np.ndarray | None:
    """The image's stored vector of `model_id` (the active model's by default), or None."""
    return vectors.of_image(image.pk, model_id or switching.active_model_id())


def model_of(image: Image) -> str:
    """The model whose vector indexes the image, as the image JSON's `embedding_model` says."""
    model_id = switching.active_model_id()
    return model_id if vectors.holding([image.pk], model_id) else ""


def give_vector(image: Image, vector: np.ndarray, model_id: str | None = None) -> None:
    """Store the image's vector of `model_id` (the active model's by default), as indexing would."""
    vectors.store(model_id or switching.active_model_id(), {image.pk: vector})


# ---------------------------------------------------------------------------- what Milvus holds


def stored_vectors(store: VectorStore, ids: list[int]) -> dict[int, np.ndarray]:
    rows = get_client(store.uri).get(store.name, ids=list(ids), output_fields=[PK, VECTOR])
    return {int(r[PK]): np.asarray(r[VECTOR], dtype=np.float32) for r in rows}


def stored_count(store: VectorStore) -> int:
    rows = get_client(store.uri).query(store.name, filter="", output_fields=["count(*)"])
    return int(rows[0]["count(*)"]) if rows else 0
