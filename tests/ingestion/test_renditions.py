"""The responsive sizes beside the thumbnail (ingestion/renditions.py): made once in the worker from
the pixels it already decoded, stored and deleted with the thumbnail, served through the same
permission checks, announced in srcset, and made afterwards for images indexed before they existed."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from PIL import Image as PILImage

from ingestion import processing, storage
from ingestion.processing import prepare
from ingestion.renditions import BY_NAME, NAMES, grid_sizes, target_size
from tests.factories import PASSWORD, api_client, draw_image, image_bytes, index, make_image, make_user
from tests.ingestion.test_metadata import photo


def opened(data: bytes) -> PILImage.Image:
    image = PILImage.open(io.BytesIO(data))
    image.load()
    return image


def webp_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    chunks, at = [], 12
    while at + 8 <= len(data):
        chunks.append(data[at : at + 4])
        at += 8 + int.from_bytes(data[at + 4 : at + 8], "little") + (data[at + 4] & 1)
    return chunks


def body(response) -> bytes:
    return b"".join(response.streaming_content)


# ---------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        # landscape: preview's longer side 1440; grid sizes scale the shorter side
        ((1600, 900), {"preview": (1440, 810), "medium": (910, 512), "small": (455, 256)}),
        # portrait
        ((900, 2000), {"preview": (648, 1440), "medium": (512, 1138), "small": (256, 569)}),
        # a panorama: the longer side is capped at 3x the size, so it stays small
        ((4000, 500), {"preview": (1440, 180), "medium": (1536, 192), "small": (768, 96)}),
        # smaller than every size: never enlarged
        ((100, 80), {"preview": (100, 80), "medium": (100, 80), "small": (100, 80)}),
    ],
)
def test_every_size_is_webp_of_the_announced_dimensions(size, expected) -> None:
    prepared = prepare(image_bytes(draw_image("stripes", size=size), "PNG"))
    assert set(prepared.thumbnail.renditions) == set(NAMES)
    for name, data in prepared.thumbnail.renditions.items():
        image = opened(data)
        assert image.format == "WEBP"
        assert image.size == expected[name] == target_size(*size, BY_NAME[name]), name
    # The thumbnail itself is what it was: a 384 px box.
    assert max(opened(prepared.thumbnail).size) == min(384, max(size))


def test_sizes_keep_transparency_and_carry_no_metadata() -> None:
    rgba = draw_image("circle", size=(900, 700), background=(0, 0, 0)).convert("RGBA")
    rgba.putalpha(rgba.getchannel("R").point(lambda red: 255 if red > 100 else 0))
    for data in prepare(image_bytes(rgba, "PNG")).thumbnail.renditions.values():
        image = opened(data)
        assert image.mode == "RGBA" and image.getpixel((2, 2))[3] == 0

    # A photo with GPS, serial numbers and an owner: none of it reaches any size.
    for data in prepare(photo(size=(900, 600))).thumbnail.renditions.values():
        assert set(webp_chunks(data)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
        assert not opened(data).getexif()


def test_the_original_is_decoded_once(monkeypatch) -> None:
    """Memory: the sizes come from the pixels already decoded, not from a second decode."""
    opens = []
    real_open = PILImage.open
    monkeypatch.setattr(processing.PILImage, "open", lambda *a, **k: opens.append(1) or real_open(*a, **k))
    data = image_bytes(draw_image("circle", size=(2400, 1800)), "JPEG")
    prepare(data)
    # Once to decode, once to read the EXIF date (headers only): as before the sizes existed.
    assert len(opens) == 2


def test_grid_sizes_draw_wide_images_wider_than_the_cell() -> None:
    assert grid_sizes(600, 800) == "(max-width: 640px) 50vw, 240px"
    assert grid_sizes(800, 400) == "(max-width: 640px) calc(50vw * 2.000), calc(240px * 2.000)"


# ---------------------------------------------------------------------------- stored and deleted


@pytest.mark.django_db
def test_indexing_stores_every_size_and_the_last_delete_removes_them(
    clean_index, django_capture_on_commit_callbacks
) -> None:
    alice = make_user("alice")
    data = image_bytes(draw_image("circle", size=(1200, 900)), "JPEG")
    first, second = make_image(alice, data=data), make_image(alice, data=data)
    index(first, second)
    names = [storage.rendition_name(first.sha256, size) for size in NAMES]
    assert first.thumbnail.name == second.thumbnail.name
    assert all(default_storage.exists(name) for name in names)
    assert storage.missing_renditions(first.sha256) == []

    with django_capture_on_commit_callbacks(execute=True):
        first.delete()
    assert all(default_storage.exists(name) for name in names)  # `second` still shows them
    with django_capture_on_commit_callbacks(execute=True):
        second.delete()
    assert not default_storage.exists(second.thumbnail.name)
    assert not any(default_storage.exists(name) for name in names)


# ---------------------------------------------------------------------------- served


@pytest.mark.django_db
def test_every_size_is_served_with_the_thumbnails_permissions(clean_index) -> None:
    alice, _bob = make_user("alice"), make_user("bob")
    public = make_image(alice, data=image_bytes(draw_image("circle", size=(1600, 1200)), "JPEG"))
    private = make_image(alice, "square", visibility="private")
    anyone, bob, owner = Client(), Client(), Client()
    assert bob.login(username="bob", password=PASSWORD) and owner.login(username="alice", password=PASSWORD)
    not_yet = anyone.get(f"/media/images/{public.pk}/thumbnail.webp?size=preview")
    assert not_yet.status_code == 404  # not indexed yet: no size at all
    index(public, private)

    for size in NAMES:
        response = anyone.get(public.sized_url(size))
        assert response.status_code == 200, size
        assert response["Content-Type"] == "image/webp"
        assert response["Cache-Control"] == "public, max-age=86400"
        assert opened(body(response)).size == public.sized(size)

        url = private.sized_url(size)
        assert anyone.get(url).status_code == 404
        assert bob.get(url).status_code == 404
        mine = owner.get(url)
        assert mine.status_code == 200 and mine["Cache-Control"] == "private, max-age=86400"

    for wrong in ("huge", "../original", "", "PREVIEW"):
        response = anyone.get(public.thumbnail_url, {"size": wrong})
        if wrong:
            assert response.status_code == 400, wrong
            assert b"preview, medium, small" in response.content
        else:
            assert response.status_code == 200  # no size: the thumbnail, as always
    # A bad size tells nothing about a private image, and nothing breaks.
    assert anyone.get(private.thumbnail_url, {"size": "huge"}).status_code == 400


@pytest.mark.django_db
def test_an_image_indexed_before_the_sizes_existed_still_shows(clean_index) -> None:
    image = make_image(make_user("alice"), data=image_bytes(draw_image("circle", size=(1600, 1200)), "JPEG"))
    index(image)
    for size in NAMES:
        default_storage.delete(storage.rendition_name(image.sha256, size))

    response = Client().get(image.sized_url("preview"))
    assert response.status_code == 200
    assert body(response) == default_storage.open(image.thumbnail.name).read()
    assert response["Cache-Control"] == "public, max-age=300"  # the real one shows soon after it is made

    out = io.StringIO()
    call_command("thumbnails", stdout=out)
    assert "made the missing sizes of 1," in out.getvalue()
    assert storage.missing_renditions(image.sha256) == []
    response = Client().get(image.sized_url("preview"))
    assert opened(body(response)).size == (1440, 1080)
    assert response["Cache-Control"] == "public, max-age=86400"

    out = io.StringIO()
    call_command("thumbnails", stdout=out)
    assert "made the missing sizes of 0," in out.getvalue()


# ---------------------------------------------------------------------------- API and pages


@pytest.mark.django_db
def test_the_api_keeps_thumbnail_url_and_adds_the_other_sizes(clean_index) -> None:
    alice = make_user("alice")
    image = make_image(alice)
    client = api_client(alice)
    pending = client.get(f"/api/images/{image.pk}/").json()
    assert pending["thumbnail_url"] is None and pending["thumbnails"] is None
    index(image)
    data = client.get(f"/api/images/{image.pk}/").json()
    assert data["thumbnail_url"] == f"http://testserver/media/images/{image.pk}/thumbnail.webp"
    assert data["thumbnails"] == {size: f"{data['thumbnail_url']}?size={size}" for size in NAMES}


@pytest.mark.django_db
def test_grid_cards_use_srcset_and_the_image_page_shows_the_preview(clean_index) -> None:
    alice = make_user("alice")
    image = make_image(alice, data=image_bytes(draw_image("circle", size=(1600, 1200)), "JPEG"))
    index(image)
    gallery = Client().get("/").content.decode()
    card = re.search(r'<img src="[^"]*"[^>]*>', gallery.split('class="thumb"', 1)[1]).group(0)
    srcset = f'srcset="{image.sized_url("small")} 341w, {image.sized_url("medium")} 683w"'
    assert srcset in card.replace("&amp;", "&")
    # A justified row's tile: its row height (static/gallery.css) times its aspect ratio.
    assert 'sizes="(max-width: 640px) calc(120px * 1.33), calc(220px * 1.33)"' in card
    assert 'width="341" height="256"' in card  # the space is held before it loads: no layout shift

    page = Client().get(image.get_absolute_url()).content.decode().replace("&amp;", "&")
    stage = re.search(r'<img id="viewer-image"[^>]*>', page).group(0)
    assert f'src="{image.sized_url("preview")}"' in stage
    assert image.file_url not in stage  # never the original, however big
    assert 'width="1440" height="1080"' in stage
    assert f'data-full="{image.sized_url("preview")}"' in page
    assert f'data-original="{image.file_url}"' in page  # loaded only when zooming in full screen


@pytest.mark.django_db
def test_a_gif_page_shows_the_original_which_may_move(clean_index) -> None:
    frames = [draw_image(kind, size=(200, 150)) for kind in ("circle", "square")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = make_image(make_user("alice"), data=out.getvalue())
    index(image)
    page = Client().get(image.get_absolute_url()).content.decode().replace("&amp;", "&")
    stage = re.search(r'<img id="viewer-image"[^>]*>', page).group(0)
    assert f'src="{image.file_url}"' in stage and "srcset" not in stage  # the animation, not a still
    assert f'data-full="{image.file_url}"' in page
