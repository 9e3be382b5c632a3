"""The interface in English and 简体中文 (issue 21): Accept-Language picks Chinese pages, the header's
switcher keeps a choice in a cookie, the API stays English, and the catalogues cover every string
the templates, scripts and page messages show (nothing visible left unmarked, nothing untranslated)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.contrib.auth.models import Group as AuthGroup
from django.core.management import call_command
from django.test import Client
from django.utils import translation
from django.utils.translation import template as template_i18n
from django.utils.translation import trans_real

from ingestion.access import MODERATORS_GROUP
from tests.factories import PASSWORD, make_image, make_user

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogues():
    """`make install` compiles them; a bare pytest run may not have, so compile and reload here."""
    call_command("compilemessages", verbosity=0)
    trans_real._translations = {}
    trans_real._default = None
    yield


def client_as(user=None) -> Client:
    client = Client()
    if user is not None:
        client.login(username=user.username, password=PASSWORD)
    return client


def zh_page(client: Client, path: str) -> str:
    response = client.get(path, **ZH)
    assert response.status_code == 200, (path, response.status_code)
    assert response["Content-Language"] == "zh-hans"
    html = response.content.decode()
    assert '<html lang="zh-Hans">' in html
    assert "图片搜索" in html and "跳到正文" in html  # the layout
    return html


# --- Chinese pages, one per main page -----------------------------------------------------------


@pytest.mark.django_db
def test_gallery_and_upload_in_chinese() -> None:
    alice = make_user("alice")
    make_image(alice, title="西湖")
    client = client_as(alice)
    gallery = zh_page(client, "/")
    assert "<h1>图库</h1>" in gallery and "筛选" in gallery and "1 张图片" in gallery
    assert "Filters" not in gallery and "Newest first" not in gallery
    upload = zh_page(client, "/upload/")
    assert "<h1>上传图片</h1>" in upload and "把图片拖到这里" in upload


@pytest.mark.django_db
def test_search_and_image_page_in_chinese() -> None:
    alice = make_user("alice")
    image = make_image(alice, title="西湖夜景", tags=["杭州"])
    client = client_as(alice)
    search = zh_page(client, "/search/")
    assert "如何写查询" in search and "用示例图片搜索" in search
    detail = zh_page(client, f"/images/{image.pk}/")
    assert "西湖夜景 · 图片搜索" in detail and "<dt>所有者</dt>" in detail and "等待中" in detail
    assert "<dt>Owner</dt>" not in detail


@pytest.mark.django_db
def test_status_trash_and_account_pages_in_chinese() -> None:
    client = client_as(make_user("alice"))
    assert "<h1>索引状态</h1>" in zh_page(client, "/status/")
    assert "回收站是空的。" in zh_page(client, "/trash/")
    assert "<h1>你的账户</h1>" in zh_page(client, "/accounts/")


@pytest.mark.django_db
def test_sign_in_and_sign_up_in_chinese() -> None:
    client = Client()
    login = zh_page(client, "/accounts/login/")
    assert "<h1>登录</h1>" in login and "还没有账户？" in login
    assert "用户名" in login  # Django's own form labels come translated too
    signup = zh_page(client, "/accounts/signup/")
    assert "<h1>注册</h1>" in signup and "创建账户" in signup


@pytest.mark.django_db
def test_moderation_queue_in_chinese() -> None:
    moderator = make_user("mod")
    moderator.groups.add(AuthGroup.objects.get_or_create(name=MODERATORS_GROUP)[0])
    html = zh_page(client_as(moderator), "/moderation/")
    assert "<h1>审核队列</h1>" in html and "没有需要审核的内容。" in html and "封禁库" in html


@pytest.mark.django_db
def test_error_pages_and_messages_in_chinese() -> None:
    alice = make_user("alice")
    client = client_as(alice)
    missing = client.get("/images/999999/", **ZH)
    assert missing.status_code == 404 and "找不到这个页面" in missing.content.decode()
    image = make_image(alice)
    response = client.post(f"/images/{image.pk}/delete/", follow=True, **ZH)
    assert "已移入回收站：30 天内可以恢复。" in response.content.decode()


@pytest.mark.django_db
def test_english_stays_the_default() -> None:
    html = Client().get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="en">' in html and "Skip to content" in html and "图库" not in html
    # The switcher offers the other language, by its own name.
    assert 'name="language" value="zh-hans"' in html and "简体中文" in html


@pytest.mark.django_db
def test_zh_cn_browsers_get_simplified_chinese() -> None:
    html = Client().get("/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.8").content.decode()
    assert '<html lang="zh-Hans">' in html


# --- The switcher ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_switcher_keeps_the_choice_in_a_cookie() -> None:
    client = Client(enforce_csrf_checks=False)
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/upload/"})
    assert response.status_code == 302 and response["Location"] == "/upload/"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "zh-hans" and cookie["max-age"] == settings.LANGUAGE_COOKIE_AGE
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    # Later pages follow the cookie, whatever the browser asks for.
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-Hans">' in html and 'value="en"' in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert '<html lang="en">' in client.get("/", **ZH).content.decode()


@pytest.mark.django_db
def test_switcher_refuses_other_sites_and_languages() -> None:
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "https://evil.example/"})
    assert response["Location"] == "/"  # never an open redirect
    client.post("/i18n/setlang/", {"language": "xx"})
    assert settings.LANGUAGE_COOKIE_NAME not in client.cookies or client.cookies[
        settings.LANGUAGE_COOKIE_NAME
    ].value in ("zh-hans",)


@pytest.mark.django_db
def test_switcher_needs_csrf() -> None:
    response = Client(enforce_csrf_checks=True).post("/i18n/setlang/", {"language": "zh-hans"})
    assert response.status_code == 403


# --- The API stays English ------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_errors_stay_english_under_chinese() -> None:
    anonymous = Client()
    anonymous.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"  # the switcher's cookie too
    refused = anonymous.post("/api/images/", **ZH)
    # DRF ships a Chinese translation of this one: the API must not use it.
    assert refused.status_code in (401, 403)
    assert refused.json()["error"] == "Authentication credentials were not provided."
    assert refused["Content-Language"] == "en"
    missing = client_as(make_user("alice")).get("/api/images/999999/", **ZH)
    assert missing.status_code == 404 and missing.json() == {"error": "No such image."}
    assert translation.get_language() in (None, "en", "en-us")


# --- Catalogue coverage ---------------------------------------------------------------------------

VISIBLE_ATTRS = ("title", "placeholder", "aria-label", "alt", "data-confirm")
TOKEN = re.compile(
    r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}|<!--.*?-->|<(?:[^>{]|\{\{.*?\}\}|\{%.*?%\})*>", re.S
)
RAW = re.compile(r"<(script|style|code|pre|kbd)\b", re.I)


def unmarked_text(source: str) -> list[str]:
    """Visible English in a template that no {% translate %} / {% blocktranslate %} covers."""
    found, skip, pos = [], None, 0
    for match in TOKEN.finditer(source + "<end>"):
        text, token, pos = source[pos : match.start()], match.group(0), match.end()
        if skip is None and re.search(r"[A-Za-z]{2,}", text):
            found.append(text.strip())
        if skip is not None:
            if re.match(skip, token, re.I):
                skip = None
        elif re.match(r"\{%\s*blocktrans", token):
            skip = r"\{%\s*endblocktrans"
        elif re.match(r"\{%\s*comment", token):
            skip = r"\{%\s*endcomment"
        elif RAW.match(token) and not token.endswith("/>"):
            skip = rf"</{RAW.match(token).group(1)}\s*>"
        elif token.startswith("<"):
            for name in VISIBLE_ATTRS:
                for value in re.findall(rf'\s{name}="((?:[^"{{]|\{{\{{.*?\}}\}}|\{{%.*?%\}})*)"', token):
                    found += [f"{name}: {t}" for t in unmarked_text(value)]
    return found


def test_templates_have_no_unmarked_visible_text() -> None:
    problems = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        if left := unmarked_text(path.read_text()):
            problems[str(path.relative_to(ROOT))] = left
    assert not problems, f"wrap these in {{% translate %}}: {problems}"


def test_the_checker_finds_unmarked_text() -> None:
    assert unmarked_text('<p>Hello {{ name }}</p><a title="Go">x</a>') == ["Hello", "title: Go"]
    assert unmarked_text('<p>{% translate "Hi" %}</p><code>CLIP_MODEL</code> <kbd>j</kbd> · 42') == []


def catalogue(domain: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / f"{domain}.po"))


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_catalogue_entry_is_translated(domain: str) -> None:
    po = catalogue(domain)
    assert po.metadata["Plural-Forms"].startswith("nplurals=1;")
    untranslated = [e.msgid for e in po.untranslated_entries()] + [e.msgid for e in po.fuzzy_entries()]
    assert not untranslated, untranslated


def _literals(code: str) -> list[str]:
    return [ast.literal_eval(m) for m in re.findall(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", code)]


def template_msgids() -> set[str]:
    """What makemessages would take from the templates, found by Django's own templatize."""
    ids = set()
    calls = re.compile(r"\b(n?p?gettext)\((.*?)\)\s", re.S)
    for path in (ROOT / "templates").rglob("*.html"):
        for kind, args in calls.findall(template_i18n.templatize(path.read_text(), origin=str(path))):
            strings = _literals(args)  # none for {% translate variable %}: its values are listed in Python
            if strings:
                ids.add(strings[1] if kind.startswith(("pgettext", "npgettext")) else strings[0])
    return ids


def python_msgids() -> set[str]:
    names = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy"}
    ids = set()
    for package in ("core", "ingestion", "moderation", "search", "webapp"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", None) in names
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    ids.add(node.args[0].value)
    return ids


def script_msgids() -> set[str]:
    ids = set()
    for path in (ROOT / "static").glob("*.js"):
        calls = re.findall(r"\b(?:n?gettext|gettext_noop)\(\s*(\"(?:[^\"\\]|\\.)*\")", path.read_text())
        ids.update(ast.literal_eval(literal) for literal in calls)
    return ids


def test_catalogues_hold_every_marked_string() -> None:
    """The same comparison as `makemessages` followed by a diff: nothing marked is missing."""
    known = {e.msgid for e in catalogue("django")}
    missing = (template_msgids() | python_msgids()) - known
    assert not missing, f"run makemessages -l zh_Hans and translate: {sorted(missing)}"
    missing_js = script_msgids() - {e.msgid for e in catalogue("djangojs")}
    assert not missing_js, f"run makemessages -d djangojs -l zh_Hans and translate: {sorted(missing_js)}"


def test_compilemessages_builds_the_mo_files() -> None:
    for domain in ("django", "djangojs"):
        mo = polib.mofile(str(LOCALE / f"{domain}.mo"))
        assert {e.msgid for e in mo} >= {e.msgid for e in catalogue(domain).translated_entries()}


@pytest.mark.django_db
def test_javascript_catalogue_is_a_script_file() -> None:
    response = Client().get("/i18n/catalog.js", **ZH)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert json.dumps("已选 %s 张") in body and "django.gettext" in body
