"""tests/postgres_server.py: the throwaway PostgreSQL that `make test`'s PostgreSQL pass runs on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the command run on the server reports: the URL it was given, the server's locale, its pg_trgm.
PROBE = """
import os, psycopg
url = os.environ["TEST_DATABASE_URL"]
with psycopg.connect(url) as conn:
    conn.execute("CREATE EXTENSION pg_trgm")
    ctype = conn.execute("SHOW lc_ctype").fetchone()[0]
print(url, ctype)
raise SystemExit(3)
"""


def wrapper(*argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    command = [sys.executable, "-m", "tests.postgres_server", *argv]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_command_runs_on_a_fresh_server_that_is_gone_afterwards() -> None:
    done = wrapper(sys.executable, "-c", PROBE)
    assert done.returncode == 3, done.stderr  # the command's own status
    url, ctype = done.stdout.splitlines()[-1].split()
    assert url.startswith("postgres://postgres@127.0.0.1:") and ctype == "C.UTF-8"
    folder = done.stdout.split("(")[1].split(")")[0]
    assert not Path(folder).exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_a_server_that_cannot_start_fails_the_run_saying_why(tmp_path: Path) -> None:
    done = wrapper("--bindir", str(tmp_path), "true")
    assert done.returncode == 1
    assert f"could not start: no initdb in {tmp_path}" in done.stderr

    initdb = tmp_path / "initdb"
    initdb.write_text("#!/bin/sh\necho 'initdb: cannot write here' >&2\nexit 1\n")
    initdb.chmod(0o755)
    done = wrapper("--bindir", str(tmp_path), "true")
    assert done.returncode == 1
    # As root the server's user may not even reach tmp_path; either way the reason is printed.
    assert "could not start" in done.stderr and "initdb" in done.stderr.split("could not start")[1]


def test_a_given_test_database_url_is_used_as_it_is() -> None:
    env = dict(os.environ, TEST_DATABASE_URL="postgres://someone@db.example:5432/x")
    argv = [sys.executable, "-m", "tests.postgres_server", sys.executable, "-c"]
    argv.append("import os; print(os.environ['TEST_DATABASE_URL'])")
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "postgres://someone@db.example:5432/x"


def test_the_postgresql_pass_selects_exactly_the_tests_that_touch_the_database() -> None:
    """A marked test and one whose fixtures start a live server stay; a test with no database goes."""
    files = [
        "tests/test_database_engine.py",
        "tests/browser/test_browser_flow.py",
        "tests/test_postgres_server.py",
    ]
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files]
    done = subprocess.run(
        [*argv, "--database-tests-only"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ids = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
    assert ids == {"tests/test_database_engine.py", "tests/browser/test_browser_flow.py"}
    deselected = sum(1 for name in dir(sys.modules[__name__]) if name.startswith("test_"))
    assert f"({deselected} deselected)" in done.stdout
