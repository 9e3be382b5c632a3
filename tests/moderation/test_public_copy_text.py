"""The moderation original (the sanitised copy, through /moderation/images/{id}/original/) carries
no PNG text chunks or GIF comments either (issue 15 item 8)."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from PIL import Image as PILImage

from moderation.models import Group, GroupMember
from tests.factories import make_image
from tests.ingestion.test_metadata import ICC, assert_no_free_text, gif_with_comment, png_with_text

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind", ["PNG", "GIF"])
def test_the_moderation_original_has_no_free_text(alice, moderator, kind: str) -> None:
    data = png_with_text() if kind == "PNG" else gif_with_comment()
    image = make_image(alice, data=data, visibility="private")
    group = Group.objects.create(kind=Group.Kind.DUPLICATE)
    GroupMember.objects.create(group=group, image=image)
    client = Client()
    client.force_login(moderator)
    response = client.get(f"/moderation/images/{image.pk}/original/")
    assert response.status_code == 200
    served = b"".join(response.streaming_content)
    assert_no_free_text(served)
    if kind == "PNG":
        with PILImage.open(io.BytesIO(served)) as img:
            assert img.info["icc_profile"] == ICC
