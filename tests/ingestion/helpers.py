"""Small builders shared by the ingestion and search tests: users, image rows, API clients."""

from __future__ import annotations

import io
import uuid

import numpy as np
from django.contrib.auth import get_user_model
from PIL import Image as PILImage
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ingestion import services
from ingestion.indexing import IndexReport, index_images
from ingestion.models import Image
from ingestion.validation import validate_image_bytes
from tests.conftest import draw_image, image_bytes

PASSWORD = "s3cret-pass"


def make_user(username: str = "alice", **extra):
    return get_user_model().objects.create_user(username, password=PASSWORD, **extra)


def api_client(user=None) -> APIClient:
    """An API client authenticated with a real token (anonymous without a user)."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def noise_png(seed: int | None = None, size: tuple[int, int] = (64, 48)) -> bytes:
    """A picture no other test draws: safe to damage or delete its stored file."""
    rng = np.random.default_rng(seed if seed is not None else uuid.uuid4().int % 2**32)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


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
    """A pending row with its stored original, created as an upload would be (without queueing)."""
    data = data if data is not None else image_bytes(draw_image(kind, color=color), "PNG")
    validated = validate_image_bytes(data, f"{kind}.png")
    image = services.create_image(
        owner,
        validated,
        filename=f"{kind}.png",
        title=title or kind,
        tags=tags,
        visibility=visibility,
        enqueue=False,
    )
    if created_at is not None:
        Image.objects.filter(pk=image.pk).update(created_at=created_at)
        image.refresh_from_db()
    return image


def index(*images: Image, force: bool = False) -> IndexReport:
    """Run the real indexing pipeline in this process and refresh the rows."""
    report = index_images([i.pk for i in images], force=force)
    for image in images:
        image.refresh_from_db()
    return report
