"""The moderation queue in headless Chromium: a moderator keeps the suggested copy with the
keyboard, the other copy is gone, and the audit log shows the decision."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group as AuthGroup
from playwright.sync_api import Page, expect

from bench.images import encode, photo
from ingestion.access import MODERATORS_GROUP
from ingestion.models import Image
from moderation.models import Group
from tests.factories import PASSWORD, index, make_image, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_keep_one_the_other_is_gone_and_the_audit_log_shows_it(page: Page, live_server, clean_index) -> None:
    moderator = make_user("mod")
    moderator.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    alice = make_user("alice")
    original = photo(31)
    big = make_image(alice, data=encode(original), title="big")
    small = make_image(alice, data=encode(original.resize((320, 240))), title="small")
    index(big, small)  # outside a transaction: image_indexed reaches moderation at once
    group = Group.objects.get(kind="duplicate", status="open")

    base = live_server.url
    page.goto(base + "/moderation/")
    page.get_by_label("Username").fill("mod")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Moderation queue")).to_be_visible()
    expect(page.locator("#moderation-link")).to_be_visible()
    expect(page.locator("#semantic-off")).to_contain_text("demo model")
    section = page.locator(f"#group-{group.pk}")
    expect(section.locator("figure")).to_have_count(2)
    expect(section.locator(f'figure[data-image="{big.pk}"] input[name="keep"]')).to_be_checked()
    expect(section.locator(f'figure[data-image="{small.pk}"] input[name="keep"]')).not_to_be_checked()

    page.keyboard.press("j")  # focus the first group
    page.keyboard.press("d")  # keep the ticked, delete the rest
    expect(page.locator("#queue-empty")).to_be_visible()
    assert Image.objects.filter(pk=big.pk).exists()
    assert not Image.objects.filter(pk=small.pk).exists()

    page.goto(base + "/moderation/audit/")
    # The decision's row (the trash records its own "trash" row beside it, in either order).
    row = page.locator("#audit-log tbody tr", has_text="resolve_delete")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"group {group.pk}")
    expect(row).to_contain_text("mod")
    assert page.js_errors == []


def test_members_without_the_role_get_403(page: Page, live_server) -> None:
    make_user("alice")
    page.goto(live_server.url + "/accounts/login/?next=/moderation/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    queue_url = live_server.url + "/moderation/"
    with page.expect_response(lambda r: r.url == queue_url) as info:
        page.locator("main form").get_by_role("button", name="Log in").click()
    assert info.value.status == 403
    expect(page.locator("main")).to_contain_text("Only moderators can do this.")


def test_the_owner_of_a_withheld_upload_is_told_why_and_asks_for_a_review(
    page: Page, live_server, clean_index, tmp_path
) -> None:
    """Issue 15 item 3: the upload result, the gallery card and the image page say 'withheld' with
    the ban's public category (never its internal note), and the owner can ask for a review."""
    moderator = make_user("mod")
    moderator.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    data = encode(photo(41))
    source = make_image(make_user("alice"), data=data, title="source")
    index(source)
    from moderation.bans import ban_image

    ban_image(moderator, source, "reported by carol", category="spam")
    make_user("bob")
    picture = tmp_path / "holiday.jpg"
    picture.write_bytes(data)

    base = live_server.url
    page.goto(base + "/accounts/login/?next=/upload/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form").get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/upload/")  # upload.js listens from the load on: a file set before is lost
    page.locator("#upload-form input[name=files]").set_input_files([str(picture)])  # sent at once
    done = page.locator('#upload-queue li[data-state="done"]')
    expect(done.locator(".withheld")).to_have_text("withheld")
    expect(done).to_contain_text("Spam or advertising")
    expect(done).not_to_contain_text("carol")

    page.goto(base + "/?owner=me")
    expect(page.locator("#gallery .card .withheld")).to_have_count(1)
    page.locator("#gallery .card .thumb").first.click()
    notice = page.locator("#withheld")
    expect(notice).to_contain_text("Spam or advertising")
    expect(notice).not_to_contain_text("carol")
    notice.get_by_label("Why should it be shown?").fill("my own holiday photo")
    notice.get_by_role("button", name="Request a review").click()
    expect(page.locator("#review-requested")).to_be_visible()
    group = Group.objects.get(kind="banned", status="open")
    assert group.requested_by_owner
    assert page.js_errors == []


def sign_in(page: Page, base: str, username: str, next_path: str) -> None:
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form").get_by_role("button", name="Log in").click()


def test_ban_from_the_image_page_then_unban_from_the_bank_page(page: Page, live_server, clean_index) -> None:
    """Issue 17: a moderator bans an image from its page (bank, public category, internal note);
    the page then shows it withheld; unbanning on the bank page shows it again."""
    moderator = make_user("mod")
    moderator.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    image = make_image(make_user("alice"), data=encode(photo(51)), title="reported")
    index(image)
    base = live_server.url

    sign_in(page, base, "mod", f"/images/{image.pk}/")
    expect(page.locator("#withheld")).to_have_count(0)
    box = page.locator("#ban-box-image")
    box.locator("summary").click()
    box.get_by_label("Bank").fill("reports")
    box.get_by_label("Public category").select_option("spam")
    box.get_by_label("Internal note").fill("reported by carol")
    box.get_by_role("button", name="Ban").click()
    expect(page.locator("#withheld")).to_contain_text("Spam or advertising")
    expect(page.locator("#ban-tools .banned-note")).to_contain_text("reports")
    image.refresh_from_db()
    assert image.moderation == "hidden"

    page.goto(base + "/moderation/bans/")
    row = page.locator("table.bans tbody tr").first
    expect(row).to_contain_text("reported by carol")
    row.get_by_role("button", name="Unban").click()
    expect(page.locator("table.bans")).to_contain_text("No bans.")
    page.goto(f"{base}/images/{image.pk}/")
    expect(page.get_by_role("heading", name="reported")).to_be_visible()
    expect(page.locator("#withheld")).to_have_count(0)
    expect(page.locator("#ban-tools .banned-note")).to_have_count(0)
    assert page.js_errors == []


def test_queue_thumbnails_are_blurred_revealed_on_focus_or_v_and_the_setting_persists(
    page: Page, browser, live_server, clean_index
) -> None:
    """Reviewer wellness (issue 17): blurred by default, revealed on focus and with the v key; a
    moderator's "don't blur" follows them to a new session."""
    moderator = make_user("mod")
    moderator.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    alice = make_user("alice")
    original = photo(52)
    first = make_image(alice, data=encode(original), title="first")
    second = make_image(alice, data=encode(original.resize((320, 240))), title="second")
    index(first, second)
    group = Group.objects.get(kind="duplicate", status="open")
    base = live_server.url

    sign_in(page, base, "mod", "/moderation/")
    section = page.locator(f"#group-{group.pk}")
    one = section.locator(f'figure[data-image="{first.pk}"] img')
    two = section.locator(f'figure[data-image="{second.pk}"] img')
    expect(one).to_have_css("filter", "blur(14px) grayscale(0.5)")
    expect(two).to_have_css("filter", "blur(14px) grayscale(0.5)")
    section.locator(f'figure[data-image="{first.pk}"] a').focus()
    expect(one).to_have_css("filter", "none")
    expect(two).to_have_css("filter", "blur(14px) grayscale(0.5)")  # only the one looked at
    page.locator("#blur-setting").focus()  # nothing in a group focused: v reveals every group
    page.keyboard.press("v")
    expect(two).to_have_css("filter", "none")
    page.keyboard.press("v")
    expect(two).to_have_css("filter", "blur(14px) grayscale(0.5)")

    page.locator("#blur-toggle").click()
    expect(page.locator("#blur-toggle")).to_have_text("Blur thumbnails")
    expect(two).to_have_css("filter", "none")
    context = browser.new_context(viewport={"width": 390, "height": 800})
    other = context.new_page()
    sign_in(other, base, "mod", "/moderation/")
    again = other.locator(f'#group-{group.pk} figure[data-image="{second.pk}"] img')
    expect(again).to_have_css("filter", "none")
    width = other.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # usable on a phone: no sideways scrolling
    context.close()
    assert page.js_errors == []


def test_a_ban_match_is_judged_side_by_side(page: Page, live_server, clean_index) -> None:
    """Issue 17: the banned group's card shows the ban entry's own picture beside the upload, with
    the distance and the variant that matched; one incident, one group."""
    from PIL import ImageOps

    from moderation.bans import ban_image

    moderator = make_user("mod")
    moderator.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    original = photo(53)
    source = make_image(make_user("alice"), data=encode(original), title="source", visibility="private")
    index(source)
    entry = ban_image(moderator, source, "reported", category="violence")
    copy = make_image(make_user("bob"), data=encode(ImageOps.mirror(original)), title="mirrored copy")
    index(copy)
    group = Group.objects.get(status="open")  # the only group: no duplicate group beside it
    assert group.kind == "banned"

    sign_in(page, live_server.url, "mod", "/moderation/")
    card = page.locator(f"#group-{group.pk}")
    banned = card.locator(f"#ban-side-{group.pk}")
    expect(banned).to_contain_text(f"Banned: #{entry.pk}")
    expect(banned).to_contain_text(f"distance {group.ban_distance}")
    expect(banned.locator("code")).to_have_text(group.ban_variant)
    for img in (banned.locator("img"), card.locator(f'figure[data-image="{copy.pk}"] img')):
        expect(img).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    left, right = banned.bounding_box(), card.locator(f'figure[data-image="{copy.pk}"]').bounding_box()
    assert left["x"] + left["width"] <= right["x"] and abs(left["y"] - right["y"]) < 5  # side by side
    assert page.js_errors == []


NO_SPLIT_WORDS = """section => {
  // Every word of the cards' captions (the names aside: one line, cut with an ellipsis) lies on
  // one line: a word broken in the middle has two client rectangles.
  const split = [];
  for (const caption of section.querySelectorAll("figcaption")) {
    const walker = document.createTreeWalker(caption, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest(".mod-name")) continue;
      for (const match of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        if (range.getClientRects().length > 1) split.push(match[0]);
      }
    }
  }
  return split;
}"""


def test_cards_are_readable_on_a_phone_and_decided_with_keys(browser, live_server, clean_index) -> None:
    """Issue 17: at 390 px every thumbnail of a duplicate group and of a ban match is 160 px or
    wider, a long name stays on one line (cut, whole in its title), no caption word breaks in the
    middle, the decisions are buttons that name their keys, and a key press decides."""
    from PIL import ImageOps

    from moderation.bans import ban_image

    moderator = make_user("mod")
    moderator.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    alice = make_user("alice_with_a_rather_long_username")
    long_name = "Extraordinarily_long_holiday_photograph_without_any_spaces_2024_final_version.jpg"
    original = photo(54)
    first = make_image(alice, data=encode(original), title=long_name)
    second = make_image(alice, data=encode(original.resize((320, 240))), title="Unbelievably photogenic")
    source = make_image(make_user("carol"), data=encode(photo(55)), title="source")
    index(first, second, source)
    ban_image(moderator, source, "reported", category="violence")
    copy = make_image(make_user("bob"), data=encode(ImageOps.mirror(photo(55))), title="mirrored copy")
    index(copy)
    duplicate = Group.objects.get(kind="duplicate", status="open")
    banned = Group.objects.get(kind="banned", status="open")

    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server.url, "mod", "/moderation/")
    expect(page.locator("#queue-keys")).to_contain_text("ban from the site")
    for group in (duplicate, banned):
        section = page.locator(f"#group-{group.pk}")
        images = section.locator("figure img")
        expect(images).to_have_count(2)
        for n in range(2):
            images.nth(n).scroll_into_view_if_needed()
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=images.nth(n).element_handle()
            )
            assert images.nth(n).bounding_box()["width"] >= 160
        assert section.evaluate(NO_SPLIT_WORDS) == []
    name = page.locator(f'#group-{duplicate.pk} figure[data-image="{first.pk}"] .mod-name')
    expect(name).to_have_attribute("title", f"#{first.pk} {long_name}")
    box = name.evaluate(
        "el => ({lines: el.getClientRects().length, height: el.getBoundingClientRect().height,"
        " line: parseFloat(getComputedStyle(el).lineHeight), cut: el.scrollWidth > el.clientWidth,"
        " ellipsis: getComputedStyle(el).textOverflow})"
    )
    assert box["lines"] == 1 and box["height"] < 1.5 * box["line"] and box["cut"], box
    assert box["ellipsis"] == "ellipsis"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling

    card = page.locator(f"#group-{banned.pk}")
    dismiss = card.locator(".act-dismiss")
    expect(dismiss).to_have_text("Not a match n")
    expect(dismiss).to_have_attribute("aria-keyshortcuts", "n")
    card.focus()
    page.keyboard.press("b")  # the group's ban form opens, its first field focused
    expect(card.locator(".ban-box input[name=bank]")).to_be_focused()
    card.focus()
    page.keyboard.press("n")  # not a match: the upload is shown again, the entry counts it
    expect(page.locator(f"#group-{banned.pk}")).to_have_count(0)
    banned.refresh_from_db()
    assert banned.resolution == "false_positive" and banned.ban.false_positives == 1
    copy.refresh_from_db()
    assert copy.moderation == "visible"
    assert errors == []
    context.close()
