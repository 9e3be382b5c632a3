"""The trash in real Chromium (issue 17, undo): delete from the image page, find it in the Trash
(header link), restore it (back in the gallery, searchable again), delete forever and empty the
trash, each asked first; the page fits a 390 px phone."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from ingestion import trash
from ingestion.models import Image
from search import index as search_index
from tests.factories import PASSWORD, index, make_image, model_of, noise_png, vector_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, base: str, username: str = "alice") -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=f"Log out {username}")).to_be_visible()


def in_index(image: Image) -> bool:
    vector = vector_of(image)
    return image.pk in search_index.embedding_store(model_of(image), len(vector)).ids()


def test_delete_then_restore_from_the_trash(page: Page, live_server, clean_index) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    kayak = make_image(alice, data=noise_png(11), title="red kayak", tags=["river"])
    other = make_image(alice, data=noise_png(12), title="blue tent")
    index(kayak, other)
    base = live_server.url
    log_in(page, base)

    page.goto(f"{base}/images/{kayak.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".meta").get_by_role("button", name="Delete").click()
    expect(page.locator(".messages")).to_contain_text("Moved to the trash")
    expect(page.locator(f'.card[data-image-id="{kayak.pk}"]')).to_have_count(0)
    assert not in_index(kayak)

    page.locator("#trash-link").click()
    expect(page).to_have_url(re.compile(r"/trash/$"))
    card = page.locator(f'.trash-item[data-image-id="{kayak.pk}"]')
    expect(card).to_contain_text("red kayak")
    expect(card.locator("img")).to_have_js_property("complete", True)
    assert card.locator("img").evaluate("(i) => i.naturalWidth") > 0  # the trash's own thumbnail door

    card.get_by_role("button", name="Restore").click()
    expect(page.locator(".messages")).to_contain_text(f"Restored image {kayak.pk}")
    expect(page.locator("#trash-empty-note")).to_be_visible()
    restored = Image.objects.get(pk=kayak.pk)
    assert (restored.title, restored.tag_names()) == ("red kayak", ["river"])
    assert in_index(restored)  # published again: search finds it
    found = page.request.get(f"{base}/api/search/?q=kayak&mode=text").json()["results"]
    assert [r["id"] for r in found] == [kayak.pk]
    page.goto(f"{base}/?owner=me")
    expect(page.locator(f'.card[data-image-id="{kayak.pk}"]')).to_have_count(1)
    assert page.js_errors == []


def test_delete_forever_and_empty_the_trash_on_a_phone(browser, live_server) -> None:
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)
    images = [make_image(alice, data=noise_png(20 + n), title=f"picture {n} " * 8) for n in range(3)]
    trash.move_to_trash(images, alice)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    base = live_server.url
    log_in(page, base)
    page.goto(f"{base}/trash/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator(".trash-item")).to_have_count(3)

    # Asked first: a dismissed question keeps it.
    first = page.locator(f'.trash-item[data-image-id="{images[0].pk}"]')
    page.once("dialog", lambda dialog: dialog.dismiss())
    first.get_by_role("button", name="Delete forever").click()
    expect(page.locator(".trash-item")).to_have_count(3)
    page.once("dialog", lambda dialog: dialog.accept())
    first.get_by_role("button", name="Delete forever").click()
    expect(page.locator(".messages")).to_contain_text(f"Deleted image {images[0].pk} for good")
    expect(page.locator(".trash-item")).to_have_count(2)
    assert not Image.all_objects.filter(pk=images[0].pk).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Empty trash").click()
    expect(page.locator(".messages")).to_contain_text("2 images deleted for good")
    expect(page.locator("#trash-empty-note")).to_be_visible()
    assert not Image.all_objects.exists()
    assert errors == []
    context.close()
