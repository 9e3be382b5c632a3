"""Links the import linter cannot see (docs/architecture.md, "Links the import linter cannot
see"): a URL name reversed in Python, a template's links, includes and tag libraries, and the
keyword index's SQL triggers. Each runs downward, or is listed in the document with its reason."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

from django.template.backends.django import get_installed_libraries
from django.urls import URLPattern, URLResolver, get_resolver

from ingestion.models import Image, Tag
from search.models import OcrRun

ROOT = Path(__file__).resolve().parent.parent
CONFIG = configparser.ConfigParser()
CONFIG.read(ROOT / ".importlinter")
LAYERS = CONFIG["importlinter:contract:layers"]["layers"].split()  # top first: webapp ... core
APPS = [layer for layer in LAYERS if layer != "webapp"]
DOC = (ROOT / "docs" / "architecture.md").read_text()

# Calls whose first argument is a URL name: Django's, and helpers named for URLs (`urls(name, pk)`).
REVERSERS = {"reverse", "reverse_lazy", "redirect", "resolve_url"}


def rank(package: str) -> int:
    """Higher is lower in the stack (core is the bottom)."""
    return LAYERS.index(package)


def url_owners() -> dict[str, str]:
    """{URL name: the package whose urlconf declares it}; names in namespaces (admin) left out."""
    owners: dict[str, str] = {}

    def walk(patterns, owner: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if not pattern.namespace:
                    walk(pattern.url_patterns, pattern.urlconf_module.__name__.split(".")[0])
            elif isinstance(pattern, URLPattern) and pattern.name:
                owners[pattern.name] = owner

    walk(get_resolver().url_patterns, "webapp")
    return owners


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def reversed_names(source: str) -> list[tuple[int, str]]:
    """(line, name) of every URL name given as a literal to a reversing call."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        name = _callee(node)
        first = node.args[0]
        is_helper = name in REVERSERS or "url" in name.lower()
        if is_helper and isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append((node.lineno, first.value))
    return found


def upward(package: str, source: str, owners: dict[str, str]) -> list[str]:
    return [
        f"line {line}: {name!r} is {owners[name]}'s"
        for line, name in reversed_names(source)
        if name in owners and rank(owners[name]) < rank(package)
    ]


def app_modules(package: str) -> list[Path]:
    return [p for p in sorted((ROOT / package).rglob("*.py")) if "migrations" not in p.parts]


def test_no_app_reverses_a_url_name_of_an_app_above_it() -> None:
    owners = url_owners()
    assert owners["image-detail"] == "ingestion"  # the image page's route: ingestion's own
    problems = {
        str(path.relative_to(ROOT)): found
        for package in APPS
        for path in app_modules(package)
        if (found := upward(package, path.read_text(), owners))
    }
    assert not problems, problems


def test_the_guard_finds_an_upward_reverse() -> None:
    """The check can fail: a planted `reverse("search")` in ingestion (and the other spellings)."""
    owners = url_owners()
    planted = (
        "from django.urls import reverse\n"
        "def f(image):\n"
        "    a = reverse('search')\n"
        "    b = redirect('moderation-queue')\n"
        "    c = urls('api-similar', image.pk)\n"
        "    d = reverse('image-detail', args=[1])\n"  # its own: not reported
        "    e = request.GET.get('search')\n"  # not a URL helper: not reported
    )
    assert upward("ingestion", planted, owners) == [
        "line 3: 'search' is search's",
        "line 4: 'moderation-queue' is moderation's",
        "line 5: 'api-similar' is search's",
    ]
    assert upward("moderation", planted, owners) == []  # from the top app, every one is downward


# ------------------------------------------------------------------------------------ templates

URL_TAG = re.compile(r"{%\s*url\s+['\"]([^'\"]+)['\"]")
INCLUDE_TAG = re.compile(r"{%\s*include\s+['\"]([^'\"]+)['\"]")
LOAD_TAG = re.compile(r"{%\s*load\s+([^%]+?)\s*%}")


def template_links(text: str, owners: dict[str, str]) -> set[tuple[str, str]]:
    """(name, owning package) of every URL, included template and project tag library it uses."""
    libraries = get_installed_libraries()
    found = {(name, owners[name]) for name in URL_TAG.findall(text) if name in owners}
    found |= {(name, name.split("/")[0]) for name in INCLUDE_TAG.findall(text) if "/" in name}
    for names in LOAD_TAG.findall(text):
        for library in names.split():
            owner = libraries.get(library, "").split(".")[0]
            if owner in LAYERS:  # the project's libraries; Django's own (i18n, static) are no app's
                found.add((library, owner))
    return found


def upward_template_links() -> set[tuple[str, str]]:
    owners = url_owners()
    found = set()
    for package in APPS:
        for path in sorted((ROOT / "templates" / package).glob("**/*.html")):
            name = str(path.relative_to(ROOT / "templates"))
            for link, owner in template_links(path.read_text(), owners):
                if owner in LAYERS and rank(owner) < rank(package):
                    found.add((name, link))
    return found


def documented_template_links() -> set[tuple[str, str]]:
    """The table in "Links the import linter cannot see": (template, link) for every row."""
    section = DOC.split("**Templates.**", 1)[1].split("**Database triggers.**", 1)[0]
    pairs = set()
    for row in re.findall(r"^\s*\| `.*\|$", section, re.MULTILINE):
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        templates, links = re.findall(r"`([^`]+)`", cells[0]), re.findall(r"`([^`]+)`", cells[1])
        pairs |= {(template, link) for template in templates for link in links}
    return pairs


def test_every_upward_template_link_is_documented_and_no_more() -> None:
    found = upward_template_links()
    assert ("ingestion/_card.html", "search") in found  # the checker sees what it should
    assert found == documented_template_links()


def test_the_template_checker_reads_urls_includes_and_libraries() -> None:
    owners = url_owners()
    text = (
        "{% load i18n moderation_tags %}<a href=\"{% url 'search' %}\">"
        '{% include "moderation/_nav.html" %}{% url "gallery" %}'
    )
    assert template_links(text, owners) == {
        ("search", "search"),
        ("moderation/_nav.html", "moderation"),
        ("moderation_tags", "moderation"),
        ("gallery", "ingestion"),
    }


# ------------------------------------------------------------------------------------- triggers

TRIGGER_NAME = re.compile(r"CREATE TRIGGER (\w+)")
TRIGGER_TABLE = re.compile(r"CREATE TRIGGER .*? ON (\w+)", re.DOTALL)
TRIGGER_COLUMNS = re.compile(r"UPDATE OF ([\w\s,]+?) ON (\w+)")
# The migrations that create the keyword index's triggers, oldest first: a later one's trigger
# replaces an earlier one of the same name.
TRIGGER_MIGRATIONS = ("search.migrations.0001_keyword_index", "search.migrations.0005_ocr_text_on_ocr_run")


def triggers_in_force() -> list[str]:
    from importlib import import_module

    by_name: dict[str, str] = {}
    for name in TRIGGER_MIGRATIONS:
        migration = import_module(name)
        for statement in migration.SQLITE + migration.POSTGRES:
            created = TRIGGER_NAME.search(statement)
            if created:
                by_name[created.group(1)] = statement
    return list(by_name.values())


def trigger_columns() -> dict[str, set[str]]:
    """{table: the columns an UPDATE trigger watches} of every trigger the keyword index keeps."""
    watched: dict[str, set[str]] = {}
    for statement in triggers_in_force():
        for table in TRIGGER_TABLE.findall(statement):
            watched.setdefault(table, set())
        for columns, table in TRIGGER_COLUMNS.findall(statement):
            watched[table] |= {c.strip() for c in columns.split(",")}
    return watched


def test_the_keyword_triggers_read_only_documented_columns_ingestion_still_has() -> None:
    watched = trigger_columns()
    columns = {
        Image._meta.db_table: {f.column for f in Image._meta.concrete_fields},
        Tag._meta.db_table: {f.column for f in Tag._meta.concrete_fields},
        Image.tags.through._meta.db_table: {f.column for f in Image.tags.through._meta.concrete_fields},
    }
    # Search's own table (the words read) is no crossing; its columns must still exist all the same.
    own = watched.pop(OcrRun._meta.db_table)
    assert own <= {f.column for f in OcrRun._meta.concrete_fields}, own
    assert set(watched) == set(columns), watched  # ingestion's three tables, no other
    section = DOC.split("**Database triggers.**", 1)[1].split("\n\n", 1)[0]
    for table, names in watched.items():
        assert names <= columns[table], (table, names - columns[table])
        assert f"`{table}`" in section and all(f"`{name}`" in section for name in names), table
