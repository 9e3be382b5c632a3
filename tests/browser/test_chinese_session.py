"""A Chinese session end to end in real Chromium at 390 px (issue 21): a browser asking for zh-CN
gets 简体中文 pages; sign up, upload (the script's strings translated too), a Chinese query from the
top bar, its results and the image page; the header's switcher goes back to English and the choice
holds across pages (its cookie)."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.utils.translation import trans_real
from playwright.sync_api import Page, expect

from tests.factories import draw_image, image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INDEXING_TIMEOUT_MS = 60_000
PASSWORD = "Corr3ct-horse-battery"  # passes the sign-up form's validators


@pytest.fixture
def zh_page(browser, tmp_path):
    call_command("compilemessages", verbosity=0)  # `make install` does; a bare pytest run may not have
    trans_real._translations, trans_real._default = {}, None
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()


def fits_the_phone(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_chinese_session_at_390px(zh_page: Page, live_server, workers, clean_index, tmp_path) -> None:
    page, base = zh_page, live_server.url
    picture = tmp_path / "西湖.png"
    picture.write_bytes(image_bytes(draw_image("circle", color=(200, 30, 30))))

    # Sign up: the browser's zh-CN picks Simplified Chinese.
    page.goto(base + "/accounts/signup/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", name="注册")).to_be_visible()
    page.locator("input[name=username]").fill("xiaoming")
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    page.get_by_role("button", name="创建账户").click()
    expect(page.get_by_role("heading", name="图库")).to_be_visible()
    assert fits_the_phone(page)

    # Upload: the page and the messages its script writes are Chinese.
    page.goto(base + "/upload/")
    expect(page.get_by_role("heading", name="上传图片")).to_be_visible()
    page.locator("#upload-form input[name=files]").set_input_files(str(picture))
    done = page.locator('#upload-queue li[data-state="done"]')
    expect(done).to_have_count(1)
    expect(page.locator("#upload-summary")).to_have_text("已上传 1 个")
    expect(done.locator(".file-result")).to_contain_text("已上传为")
    expect(done.locator(".status")).to_have_text("已索引", timeout=INDEXING_TIMEOUT_MS)
    assert fits_the_phone(page)

    # A Chinese query from the top bar: results, in Chinese.
    page.locator(".topsearch input[name=q]").fill("杭州西湖的夜景")
    page.locator(".topsearch").get_by_role("button", name="搜索").click()
    expect(page).to_have_url(re.compile(r"/search/\?q="))
    expect(page.get_by_role("heading", name=re.compile(r"^1 个结果\s*：“杭州西湖的夜景”"))).to_be_visible()
    expect(page.locator("#results .card")).to_have_count(1)
    assert fits_the_phone(page)

    # The image page.
    page.locator("#results .card a.thumb").first.click()
    expect(page).to_have_url(re.compile(r"/images/\d+/$"))
    expect(page).to_have_title("西湖.png · 图片搜索")
    expect(page.locator(".meta")).to_contain_text("所有者")
    expect(page.get_by_role("button", name="全屏")).to_be_visible()
    assert fits_the_phone(page)

    # The switcher (a plain form) goes back to English, and the choice holds on the next page.
    page.locator("#language-switch").get_by_role("button", name="English").click()
    expect(page).to_have_url(re.compile(r"/images/\d+/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    assert page.js_errors == []
