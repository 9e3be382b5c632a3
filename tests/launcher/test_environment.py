"""prepare(): what settings used to do with files at import, done once before Django starts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from launcher import environment
from launcher.environment import forget_services, live_run, prepare, record_services


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_services(data_dir: Path, pid: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    info = {"pid": pid, "REDIS_URL": "redis://127.0.0.1:7001/0", "MILVUS_URI": "http://127.0.0.1:7002"}
    (data_dir / "services.json").write_text(json.dumps(info))


def test_creates_data_dir_and_a_private_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "a" / "data"
    env = {"DATA_DIR": str(data_dir)}

    result = prepare(env)

    key_file = data_dir / "secret_key"
    assert data_dir.is_dir()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert env["DJANGO_SECRET_KEY"] == key_file.read_text().strip()
    assert len(env["DJANGO_SECRET_KEY"]) >= 50
    assert result == env and result is not env
    assert [p.name for p in data_dir.iterdir()] == ["secret_key"]  # no temporary file left behind


def test_reuses_the_key(tmp_path: Path) -> None:
    first = prepare({"DATA_DIR": str(tmp_path)})["DJANGO_SECRET_KEY"]
    assert prepare({"DATA_DIR": str(tmp_path)})["DJANGO_SECRET_KEY"] == first


def test_a_set_key_is_left_alone(tmp_path: Path) -> None:
    env = prepare({"DATA_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "mine"})
    assert env["DJANGO_SECRET_KEY"] == "mine"
    assert not (tmp_path / "secret_key").exists()


def test_an_empty_key_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("\n")
    with pytest.raises(RuntimeError, match="secret_key is empty"):
        prepare({"DATA_DIR": str(tmp_path)})


def test_data_dir_defaults_to_the_repository_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    monkeypatch.setattr(Path, "mkdir", lambda self, **kw: made.append(self))
    monkeypatch.setattr(environment, "secret_key", lambda directory: "from-file")

    env = prepare({"DJANGO_SECRET_KEY": ""})

    assert env["DATA_DIR"] == str(Path(__file__).resolve().parents[2] / "data")
    assert made == [Path(env["DATA_DIR"])]
    assert env["DJANGO_SECRET_KEY"] == "from-file"  # blank counts as unset


def test_a_relative_data_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = prepare({"DATA_DIR": "here"})
    assert env["DATA_DIR"] == str(tmp_path.resolve() / "here")


def test_prepares_os_environ_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("DJANGO_SECRET_KEY", "")
    prepare()
    assert os.environ["DATA_DIR"] == str(tmp_path / "d")
    assert os.environ["DJANGO_SECRET_KEY"] == (tmp_path / "d" / "secret_key").read_text().strip()


def test_joins_a_live_run_for_unset_variables_only(tmp_path: Path) -> None:
    write_services(tmp_path, os.getpid())
    env = prepare({"DATA_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "k", "REDIS_URL": "redis://mine:6379/0"})
    assert env["REDIS_URL"] == "redis://mine:6379/0"
    assert env["MILVUS_URI"] == "http://127.0.0.1:7002"


def test_ignores_a_dead_run(tmp_path: Path, dead_pid: int) -> None:
    write_services(tmp_path, dead_pid)
    env = prepare({"DATA_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "k"})
    assert "REDIS_URL" not in env and "MILVUS_URI" not in env


def test_join_running_off_ignores_a_live_run(tmp_path: Path) -> None:
    write_services(tmp_path, os.getpid())
    env = prepare({"DATA_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "k"}, join_running=False)
    assert "REDIS_URL" not in env and "MILVUS_URI" not in env


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"REDIS_URL": "x"}', '{"pid": "x"}', '{"pid": 0}'])
def test_a_broken_record_is_ignored(tmp_path: Path, text: str) -> None:
    (tmp_path / "services.json").write_text(text)
    assert live_run(tmp_path) is None


def test_record_and_forget(tmp_path: Path, dead_pid: int) -> None:
    record_services(tmp_path, {"REDIS_URL": "redis://r:1/0", "MILVUS_URI": "http://m:2"})
    assert live_run(tmp_path) == {
        "pid": str(os.getpid()),
        "REDIS_URL": "redis://r:1/0",
        "MILVUS_URI": "http://m:2",
    }
    forget_services(tmp_path)
    assert not (tmp_path / "services.json").exists()
    # Another process's record is not ours to remove.
    write_services(tmp_path, dead_pid)
    forget_services(tmp_path)
    assert (tmp_path / "services.json").exists()


@pytest.fixture(autouse=True)
def _restore_umask():
    """prepare() sets the process umask; the rest of the test session keeps its own."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


def test_data_dir_and_what_is_made_in_it_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    prepare({"DATA_DIR": str(data_dir)})
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    # The umask is the process's (and its children's): a database or upload made later is 0600.
    (data_dir / "db.sqlite3").write_text("")
    (data_dir / "media").mkdir()
    assert stat.S_IMODE((data_dir / "db.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "media").stat().st_mode) == 0o700
    record_services(data_dir, {"REDIS_URL": "redis://:secret@127.0.0.1:1/0"})
    assert stat.S_IMODE((data_dir / "services.json").stat().st_mode) == 0o600


def test_an_open_data_dir_is_closed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "services.json").write_text("{}")
    (data_dir / "services.json").chmod(0o644)
    prepare({"DATA_DIR": str(data_dir)})
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    record_services(data_dir, {})
    assert stat.S_IMODE((data_dir / "services.json").stat().st_mode) == 0o600
