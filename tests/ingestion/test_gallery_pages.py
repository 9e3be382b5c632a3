"""The gallery's timeline, filters, sort and bulk actions; partial edits; the upload page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from ingestion import views
from ingestion.models import Image
from tests.factories import make_image, make_user

pytestmark = pytest.mark.django_db


def when(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def ids_in(html: str, images: list[Image]) -> list[int]:
    """The order in which `images` appear on the page."""
    found = [
        (html.index(f'data-image-id="{i.pk}"'), i.pk) for i in images if f'data-image-id="{i.pk}"' in html
    ]
    return [pk for _, pk in sorted(found)]


def test_timeline_groups_by_month_taken_else_uploaded(browser, alice) -> None:
    march = make_image(alice, "circle", title="March", created_at=when(2024, 3, 5))
    june = make_image(alice, "square", title="June upload", created_at=when(2024, 6, 1))
    # Taken in January 2023 although uploaded last: the timeline puts it where it was taken.
    old_photo = make_image(alice, "stripes", title="Old photo", created_at=when(2024, 7, 1))
    Image.objects.filter(pk=old_photo.pk).update(taken_at=when(2023, 1, 9))

    html = browser.get("/").content.decode()
    assert [h in html for h in ("June 2024", "March 2024", "January 2023")] == [True] * 3
    assert html.index("June 2024") < html.index("March 2024") < html.index("January 2023")
    assert ids_in(html, [march, june, old_photo]) == [june.pk, march.pk, old_photo.pk]
    assert 'href="#month-2023-01"' in html  # the jump list

    oldest = browser.get("/", {"sort": "oldest"}).content.decode()
    assert ids_in(oldest, [march, june, old_photo]) == [old_photo.pk, march.pk, june.pk]
    assert browser.get("/", {"sort": "sideways"}).status_code == 400


def test_filters_survive_paging(browser, alice, monkeypatch) -> None:
    monkeypatch.setattr(views, "GALLERY_PAGE_SIZE", 2)
    tagged = [
        make_image(alice, "circle", title=f"tagged {n}", tags=["batch"], created_at=when(2024, 1, n + 1))
        for n in range(3)
    ]
    make_image(alice, "square", title="untagged", created_at=when(2024, 5, 1))

    first = browser.get("/", {"tag": "batch", "sort": "oldest"}).content.decode()
    assert 'value="batch"' in first  # the control shows the filter in force
    assert "tag=batch&amp;sort=oldest&amp;page=2" in first
    second = browser.get("/", {"tag": "batch", "sort": "oldest", "page": 2}).content.decode()
    assert "untagged" not in second
    assert ids_in(second, tagged) == [tagged[2].pk]


def test_filter_controls_for_status_visibility_and_dates(browser, alice) -> None:
    make_image(alice, "circle", title="Public one", created_at=when(2024, 1, 1))
    make_image(alice, "square", title="Private one", visibility="private", created_at=when(2024, 2, 1))
    html = browser.get("/", {"visibility": "private", "created_after": "2024-01-15"}).content.decode()
    assert "Private one" in html and "Public one" not in html
    assert '<option value="private" selected>' in html
    none = browser.get("/", {"status": "failed"}).content.decode()
    assert "No images match these filters." in none


def test_bulk_tag_visibility_and_delete_touch_only_own_images(browser, alice) -> None:
    mine = [make_image(alice, "circle"), make_image(alice, "square")]
    bobs = make_image(make_user("bob"), "stripes")
    ids = ",".join(str(i.pk) for i in [*mine, bobs])

    response = browser.post(
        "/images/bulk/", {"ids": ids, "action": "add_tags", "tags": "Trip, 2024", "next": "/?tag=x"}
    )
    assert response.status_code == 302 and response["Location"] == "/?tag=x"
    for image in mine:
        assert sorted(image.tag_names()) == ["2024", "trip"]
    assert bobs.tag_names() == []
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "Tagged 2 images." in messages and any("not yours" in m for m in messages)

    browser.post("/images/bulk/", {"ids": ids, "action": "remove_tags", "tags": "trip"})
    assert mine[0].tag_names() == ["2024"]
    browser.post("/images/bulk/", {"ids": ids, "action": "private"})
    assert set(Image.objects.filter(pk__in=[i.pk for i in mine]).values_list("visibility", flat=True)) == {
        "private"
    }
    assert Image.objects.get(pk=bobs.pk).visibility == "public"
    browser.post("/images/bulk/", {"ids": ids, "action": "delete"})
    assert list(Image.objects.values_list("pk", flat=True)) == [bobs.pk]


def test_bulk_refuses_bad_input_without_touching_anything(browser, alice) -> None:
    image = make_image(alice, "circle")
    for data, words in [
        ({"ids": str(image.pk), "action": "add_tags"}, "Type one or more tags"),
        ({"ids": "", "action": "private"}, "ids"),
        ({"ids": str(image.pk), "action": "explode"}, "action must be one of"),
        ({"ids": "1,x", "action": "private"}, "comma-separated list"),
    ]:
        response = browser.post("/images/bulk/", data, follow=True)
        assert words in response.content.decode(), data
    image.refresh_from_db()
    assert image.visibility == "public"
    assert Client().post("/images/bulk/", {"ids": str(image.pk), "action": "delete"}).status_code == 302
    assert Image.objects.filter(pk=image.pk).exists()  # anonymous: sent to log in


def test_edit_saves_the_valid_fields_and_explains_the_rest(browser, alice) -> None:
    image = make_image(alice, "circle", title="Old")
    response = browser.post(
        f"/images/{image.pk}/edit/",
        {"title": "New title", "tags": "ok, " + "x" * 80, "visibility": "private"},
        HTTP_ACCEPT="application/json",
    )
    body = response.json()
    assert body["saved"] == ["title", "visibility"]
    assert set(body["errors"]) == {"tags"} and "too long" in body["errors"]["tags"]
    image.refresh_from_db()
    assert (image.title, image.visibility, image.tag_names()) == ("New title", "private", [])

    page = browser.post(f"/images/{image.pk}/edit/", {"title": "Again", "visibility": "nope"}, follow=True)
    html = page.content.decode()
    assert "Saved title." in html and "visibility must be" in html


def test_upload_page_offers_the_drop_zone(browser, settings) -> None:
    html = browser.get("/upload/").content.decode()
    assert 'id="dropzone"' in html and 'data-api="/api/images/"' in html
    assert f'data-max-bytes="{settings.MAX_UPLOAD_BYTES}"' in html
    assert "HEIC" in html and "AVIF" in html


def test_the_jump_list_reaches_every_month_of_the_timeline_not_only_this_pages(
    browser, alice, monkeypatch
) -> None:
    monkeypatch.setattr(views, "GALLERY_PAGE_SIZE", 2)
    for month in (6, 6, 5, 3, 3):
        make_image(alice, "circle", tags=["trip"], created_at=when(2024, month, 2))
    make_image(alice, "square", created_at=when(2022, 1, 1))  # filtered out below

    html = browser.get("/", {"tag": "trip"}).content.decode()
    jump = html[html.index('aria-label="Jump to month"') :]
    jump = jump[: jump.index("</nav>")]
    # June is on this page; May starts page 2, March page 2 too (positions 2 and 3 of 0..4).
    # The scrubber names each year once, then its months (the year read out to screen readers).
    hidden = '<span class="visually-hidden"> 2024</span>'
    assert 'href="#month-2024-06" class="year" title="2024">2024</a>' in jump
    assert f'href="#month-2024-06" title="2 images" data-month="month-2024-06">Jun{hidden}' in jump
    later = "?tag=trip&amp;page=2"
    assert f'href="{later}#month-2024-05" title="1 image" data-month="month-2024-05">May{hidden}' in jump
    assert f'href="{later}#month-2024-03" title="2 images" data-month="month-2024-03">Mar{hidden}' in jump
    assert jump.count('class="year"') == 1
    assert "2022" not in jump  # the filters hold

    oldest = browser.get("/", {"tag": "trip", "sort": "oldest", "page": 3}).content.decode()
    assert 'href="?tag=trip&amp;sort=oldest&amp;page=1#month-2024-03"' in oldest
    # June starts on page 2 (and ends on this one): its link goes to where it starts.
    assert 'href="?tag=trip&amp;sort=oldest&amp;page=2#month-2024-06"' in oldest
