"""ingestion/states.py: the only writers of the state ingestion's doors filter on. Each function's
WHERE clause and `updated_at` handling, and a scan of every other app's source that fails when a
module outside ingestion writes these columns itself."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.utils import timezone

from ingestion import states
from ingestion.models import Image
from tests.factories import make_image, make_user

ROOT = Path(__file__).resolve().parent.parent.parent
# The columns every listing rule filters on (ingestion/models.py): written only through states.py.
OWNED_COLUMNS = {"status", "failure_reason", "attempts", "indexed_at", "moderation", "moderation_reason"}
# Apps and tools other than ingestion, whose code must call ingestion.states instead.
OTHER_PACKAGES = ["core", "search", "moderation", "webapp", "bench", "launcher"]
# Other models that have a column of the same name (a moderation group's `status`, a rescan's):
# an update rooted at one of these is theirs, not Image's.
OTHER_MODELS = {model.__name__ for model in apps.get_models()} - {"Image"}


def _root_name(node: ast.AST) -> str | None:
    """The name a call chain starts from: `Image` in `Image.objects.filter(...).update`."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node.id if isinstance(node, ast.Name) else None


def _strings(node: ast.AST | None) -> set[str]:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def _written_columns(call: ast.Call) -> set[str]:
    """The owned columns this call writes, as far as its source shows."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return set()
    if func.attr in ("update", "update_or_create", "bulk_update") and _root_name(func.value) in OTHER_MODELS:
        return set()
    if func.attr == "update":  # QuerySet.update(status=...)
        return {k.arg for k in call.keywords if k.arg} & OWNED_COLUMNS
    if func.attr == "update_or_create":
        defaults = next((k.value for k in call.keywords if k.arg == "defaults"), None)
        if isinstance(defaults, ast.Dict):
            return {k.value for k in defaults.keys if isinstance(k, ast.Constant)} & OWNED_COLUMNS
        return set()
    if func.attr == "bulk_update":  # bulk_update(images, ["status", ...])
        fields = (
            call.args[1]
            if len(call.args) > 1
            else next((k.value for k in call.keywords if k.arg == "fields"), None)
        )
        return _strings(fields) & OWNED_COLUMNS
    if func.attr == "save":  # image.save(update_fields=[...]) on a variable that names an image
        root = (_root_name(func.value) or "").lower()
        fields = next((k.value for k in call.keywords if k.arg == "update_fields"), None)
        return _strings(fields) & OWNED_COLUMNS if "image" in root or root in ("img", "row") else set()
    return set()


def writers_outside_ingestion(root: Path = ROOT) -> list[str]:
    """`path:line columns` for every write of an owned column outside ingestion."""
    found = []
    for package in OTHER_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # a migration writes history's schema, not today's rule
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and (columns := _written_columns(node)):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {sorted(columns)}")
    return found


def test_no_module_outside_ingestion_writes_the_state_its_doors_filter_on() -> None:
    assert writers_outside_ingestion() == [], (
        "Write these columns through ingestion/states.py (docs/architecture.md, 'Who writes what')"
    )


@pytest.mark.parametrize(
    "source",
    [
        "Image.objects.filter(pk=1).update(status='failed', updated_at=now)",
        "_scope(user).filter(pk__in=ids).update(failure_reason='')",
        "Image.objects.bulk_update(images, ['moderation', 'moderation_reason'])",
        "image.save(update_fields=['indexed_at'])",
        "Image.objects.update_or_create(pk=1, defaults={'attempts': 0})",
    ],
)
def test_the_scan_finds_a_planted_writer(tmp_path: Path, source: str) -> None:
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "rogue.py").write_text(f"def rogue():\n    {source}\n")
    assert [line.split()[0] for line in writers_outside_ingestion(tmp_path)] == ["search/rogue.py:2"]


@pytest.mark.parametrize(
    "source",
    [
        "Group.objects.filter(pk=1).update(status='resolved')",  # moderation's own model
        "Rescan.objects.filter(pk=1).exclude(status='done').update(status='running')",
        "group.save(update_fields=['status', 'size'])",
        "Image.objects.filter(status='pending').update(title='x')",  # filtering is not writing
    ],
)
def test_the_scan_leaves_other_models_and_other_columns_alone(tmp_path: Path, source: str) -> None:
    (tmp_path / "moderation").mkdir()
    (tmp_path / "moderation" / "own.py").write_text(f"def own():\n    {source}\n")
    assert writers_outside_ingestion(tmp_path) == []


# ---------------------------------------------------------------------------- the writers


def _set(image: Image, **columns) -> Image:
    Image.objects.filter(pk=image.pk).update(**columns)
    image.refresh_from_db()
    return image


def _long_ago() -> timezone.datetime:
    return timezone.now() - timedelta(days=3)


@pytest.mark.django_db
def test_mark_indexed_clears_the_reason_and_touches_updated_at_unless_told_not_to() -> None:
    owner = make_user()
    touched = _set(make_image(owner), failure_reason="was waiting", updated_at=_long_ago())
    kept = _set(make_image(owner, "square"), failure_reason="was waiting", updated_at=_long_ago())
    at = timezone.now()
    assert states.mark_indexed([touched.pk], at) == 1
    assert states.mark_indexed({kept.pk}, at, touch=False) == 1
    touched.refresh_from_db()
    kept.refresh_from_db()
    for image in (touched, kept):
        assert (image.status, image.failure_reason, image.indexed_at) == (Image.Status.INDEXED, "", at)
    assert touched.updated_at == at
    assert kept.updated_at < at - timedelta(days=2)


@pytest.mark.django_db
def test_mark_failed_keeps_the_reason_within_its_limit() -> None:
    image = make_image(make_user())
    assert states.mark_failed(image.pk, "x" * 5000) == 1
    image.refresh_from_db()
    assert image.status == Image.Status.FAILED
    assert len(image.failure_reason) == states.REASON_LIMIT


@pytest.mark.django_db
def test_a_pending_reason_reaches_pending_images_only() -> None:
    owner = make_user()
    pending = _set(make_image(owner), updated_at=_long_ago())
    indexed = _set(make_image(owner, "square"), status=Image.Status.INDEXED)
    assert states.note_pending_reason([pending.pk, indexed.pk], "queue down", touch=False) == 1
    pending.refresh_from_db()
    indexed.refresh_from_db()
    assert pending.failure_reason == "queue down"
    assert pending.updated_at < timezone.now() - timedelta(days=2)  # reconcile's age kept
    assert indexed.failure_reason == ""
    states.note_pending_reason([pending.pk], "still down")
    pending.refresh_from_db()
    assert pending.updated_at > timezone.now() - timedelta(hours=1)


@pytest.mark.django_db
def test_clearing_a_pending_reason_spares_another_reason() -> None:
    owner = make_user()
    waiting = _set(make_image(owner), failure_reason="queue down")
    other = _set(make_image(owner, "square"), failure_reason="something else")
    assert states.clear_pending_reason([waiting.pk, other.pk], "queue down") == 1
    assert Image.objects.get(pk=waiting.pk).failure_reason == ""
    assert Image.objects.get(pk=other.pk).failure_reason == "something else"


@pytest.mark.django_db
def test_retry_takes_back_failed_images_only() -> None:
    owner = make_user()
    failed = _set(make_image(owner), status=Image.Status.FAILED, failure_reason="bad", attempts=3)
    indexed = _set(make_image(owner, "square"), status=Image.Status.INDEXED, attempts=1)
    assert states.retry_failed([failed.pk, indexed.pk]) == 1
    failed.refresh_from_db()
    indexed.refresh_from_db()
    assert (failed.status, failed.failure_reason, failed.attempts) == (Image.Status.PENDING, "", 0)
    assert (indexed.status, indexed.attempts) == (Image.Status.INDEXED, 1)


@pytest.mark.django_db
def test_note_attempts_and_set_withheld() -> None:
    image = make_image(make_user())
    states.note_attempts([image.pk])
    states.note_attempts([image.pk])
    states.set_withheld(image.pk, True, "matches a banned image")
    image.refresh_from_db()
    assert image.attempts == 2
    assert (image.moderation, image.moderation_reason) == (Image.Moderation.HIDDEN, "matches a banned image")
    states.set_withheld(image.pk, False)
    image.refresh_from_db()
    assert (image.moderation, image.moderation_reason) == (Image.Moderation.VISIBLE, "")
