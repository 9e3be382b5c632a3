"""The one-way architecture (`.importlinter`): packages depend webapp -> moderation -> search ->
ingestion -> core, checked by `lint-imports`. These tests run the real checker, and show it catches
a violation; and they keep what the README and docs/architecture.md say about it true."""

from __future__ import annotations

import ast
import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = configparser.ConfigParser()
CONFIG.read(ROOT / ".importlinter")
PACKAGES = CONFIG["importlinter"]["root_packages"].split()
LAYERS = CONFIG["importlinter:contract:layers"]["layers"].split()
LAYERS_CONTRACT = CONFIG["importlinter:contract:layers"]["name"]
LAUNCHER_CONTRACT = CONFIG["importlinter:contract:launcher"]["name"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


DOCUMENTED_LAYERS = ["webapp", "moderation", "search", "ingestion", "core"]


def test_the_layers_are_the_documented_ones() -> None:
    """Every layer, in order: a layer added, dropped or moved fails here until the words follow."""
    assert LAYERS == DOCUMENTED_LAYERS
    assert set(PACKAGES) == {*LAYERS, "launcher", "bench"}
    line = " -> ".join(LAYERS)
    assert line in LAYERS_CONTRACT
    for doc in ("README.md", "docs/architecture.md"):
        assert line in " ".join((ROOT / doc).read_text().split()), doc


def test_the_project_keeps_its_contracts() -> None:
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} is missing: install import-linter"
    result = lint_imports(ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "0 broken" in output
    assert LAYERS_CONTRACT in output


@pytest.fixture
def copy_of_the_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    return tmp_path


def test_the_copy_keeps_its_contracts_too(copy_of_the_project: Path) -> None:
    """The control for the test below: the copy alone passes, so its failure is the edit's."""
    result = lint_imports(copy_of_the_project)
    assert result.returncode == 0, result.stdout + result.stderr


# One planted import per contract, each into a module no hand-written list named before the
# contracts used wildcards: (module file, the import, the chain lint-imports must report).
PLANTS = {
    "layers": ("ingestion/models.py", "import webapp.settings", "ingestion.models -> webapp.settings"),
    "bench": ("search/query/copies.py", "import bench.images", "search.query.copies -> bench.images"),
    "apps-launcher": ("webapp/urls.py", "import launcher.stack", "webapp.urls -> launcher.stack"),
    "engines": (
        "search/engines/hamming.py",
        "import search.variants",
        "search.engines.hamming -> search.variants",
    ),
    "engines-apart": (
        "search/engines/ocr.py",
        "import search.engines.hamming",
        "search.engines.ocr -> search.engines.hamming",
    ),
    "pipeline": (
        "search/pipeline/claims.py",
        "import search.query.fusion",
        "search.pipeline.claims -> search.query.fusion",
    ),
    "query": (
        "search/query/fusion.py",
        "import search.pipeline.indexing",
        "search.query.fusion -> search.pipeline.indexing",
    ),
    "index": ("search/variants.py", "import search.query.fusion", "search.variants -> search.query.fusion"),
    "launcher": ("launcher/stack.py", "import django", "launcher.stack -> django"),
    "torch": ("search/pipeline/rehashing.py", "import torch", "search.pipeline.rehashing -> torch"),
    "milvus": ("moderation/bans.py", "import pymilvus", "moderation.bans -> pymilvus"),
    "ocr": ("moderation/detection.py", "import cv2", "moderation.detection -> cv2"),
    "faiss": ("search/query/copies.py", "import faiss", "search.query.copies -> faiss"),
}
CONTRACTS = {
    section.removeprefix("importlinter:contract:"): CONFIG[section]
    for section in CONFIG.sections()
    if section.startswith("importlinter:contract:")
}


def broken_sections(output: str) -> dict[str, str]:
    """Each broken contract's report, by contract id (names are wrapped in the summary)."""
    text = " ".join(output.split()).split(" Broken contracts ", 1)[-1]
    starts = sorted((text.find(CONTRACTS[c]["name"]), c) for c in CONTRACTS if CONTRACTS[c]["name"] in text)
    ends = [start for start, _ in starts[1:]] + [len(text)]
    return {c: text[start:end] for (start, c), end in zip(starts, ends, strict=True)}


def test_every_contract_can_fail(copy_of_the_project: Path) -> None:
    """Each contract breaks on its own planted import, and reports that very chain."""
    assert set(PLANTS) == set(CONTRACTS), "a new contract needs its planted violation here"
    for module, line, _ in PLANTS.values():
        path = copy_of_the_project / module
        path.write_text(path.read_text() + f"\n{line}  # noqa\n")

    result = lint_imports(copy_of_the_project)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{len(CONTRACTS)} broken" in output, output
    sections = broken_sections(output)
    for contract, (_, _, chain) in PLANTS.items():
        assert chain in sections.get(contract, ""), (contract, output)


def test_the_contracts_cover_every_package() -> None:
    """The lists the wildcards cannot replace name every package, so none drifts out of them."""
    everything = set(PACKAGES)
    for contract in ("torch", "milvus", "ocr", "faiss"):  # every package; the engine is ignored
        assert set(CONTRACTS[contract]["source_modules"].split()) == everything, contract
    assert set(CONTRACTS["bench"]["source_modules"].split()) == everything - {"bench"}
    assert set(CONTRACTS["apps-launcher"]["source_modules"].split()) == set(LAYERS)
    assert set(CONTRACTS["launcher"]["forbidden_modules"].split()) == everything - {"launcher"} | {"django"}
    engines_forbid = set(CONTRACTS["engines"]["forbidden_modules"].split())
    assert engines_forbid == everything - {"search", "core"} | {"search.*"}
    assert CONTRACTS["engines-apart"]["modules"].split() == ["search.engines.*"]


ABOVE_INGESTION = LAYERS[: LAYERS.index("ingestion")]  # webapp, search and any layer between
IMPORT_OF = re.compile(
    rf"^\s*(?:from|import)\s+({'|'.join(map(re.escape, ABOVE_INGESTION))})(?:\.|\s|$)", re.MULTILINE
)


def test_no_ingestion_module_imports_search_or_webapp() -> None:
    """A cheap guard beside lint-imports: ingestion announces with signals and never imports up."""
    assert {"search", "webapp"} <= set(ABOVE_INGESTION)
    offenders = []
    for path in sorted((ROOT / "ingestion").rglob("*.py")):
        for match in IMPORT_OF.finditer(path.read_text()):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    assert offenders == []


def test_the_guard_recognises_the_imports_it_looks_for() -> None:
    samples = "import search\nfrom webapp.settings import X\n    from search import index\n"
    assert len(IMPORT_OF.findall(samples)) == 3
    assert IMPORT_OF.findall("import searchlight\nfrom webapps import x\n# see search.index\n") == []


# Receivers are wired one way: in their app's `AppConfig.ready()`, never by `@receiver` or a
# `.connect(...)` run when some module happens to be imported.
WIRING = re.compile(r"@receiver\b|\.connect\([^)]*\b(?:sender|dispatch_uid|weak)=", re.DOTALL)


def test_every_receiver_is_connected_in_an_app_ready() -> None:
    offenders = []
    for package in ("core", "ingestion", "search", "moderation", "webapp"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name != "apps.py" and WIRING.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_wiring_guard_recognises_each_way_of_wiring() -> None:
    assert WIRING.search("@receiver(post_save, sender=Image)\ndef f(): ...")
    assert WIRING.search("@task_prerun.connect(weak=False, dispatch_uid='x')\ndef f(): ...")
    assert WIRING.search("post_delete.connect(\n    clean_up, sender=Image\n)")
    assert not WIRING.search("client.connect(host, port)\nsocket.connect((host, 80))")


def deferred_imports(path: Path) -> list[str]:
    """The imports inside functions of one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [ast.unparse(n) for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
    return found


def test_the_documented_deferred_imports_are_all_there_are() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = text.split("Deferred imports (an `import` inside a function)", 1)[1].split("\n\n", 1)[0]
    # Each item names its modules before its colon: "- `a.py`, `b.py`: why".
    items = [line.split(":", 1)[0] for line in listed.splitlines() if line.startswith("- ")]
    documented = {module for item in items for module in re.findall(r"`([\w/]+\.py)`", item)}
    found = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and deferred_imports(path)
    }
    assert found == documented, {"undocumented": found - documented, "gone": documented - found}


def test_deferred_imports_are_found_inside_functions_only() -> None:
    sample = ROOT / "tests" / "__init__.py"
    assert deferred_imports(sample) == []
    assert deferred_imports(Path(__file__)) == []  # this module imports at its top only
    apps = deferred_imports(ROOT / "search" / "apps.py")
    assert "from .pipeline import worker, worker_status" in apps
