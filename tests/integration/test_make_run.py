"""`make run`'s starter: every service comes up, the site answers, Ctrl-C stops them all, even after
a worker was killed; what it writes is its owner's alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from launcher.stack import free_port, port_open

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOW_SERVICES = "from django.conf import settings; print(settings.REDIS_URL, settings.MILVUS_URI)"


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (name) state ppid ...": the name may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes_of(data_dir: Path) -> dict[int, str]:
    """Every live process that names this run's DATA_DIR in its command line or environment."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # exited, waiting to be reaped
        except (OSError, IndexError):
            continue
        if str(data_dir) in cmdline(pid) or str(data_dir) in environ(pid):
            found[pid] = cmdline(pid)
    return found


def wait_for(text: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_run_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port = free_port()
    # As from a shell: no service addresses, no secret key (make run makes one), default settings.
    unset = ("REDIS_URL", "MILVUS_URI", "DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(DATA_DIR=str(tmp_path / "data"), PORT=str(port), CLIP_MODEL="demo")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "launcher.run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 300  # three workers start on 2 busy cores
        while "Press Ctrl-C to stop" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert f"Image search is running: http://127.0.0.1:{port}" in text
        assert "Model: demo (random-weight demo model" in text  # the workers reported ready

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            health = json.load(response)
            assert response.headers["X-Encoder-State"] == "ok"
            # "running" is printed only once every worker can answer, OCR's too.
            assert response.headers["X-Worker-States"] == "ingest=ok,ocr=ok,query=ok"
        assert health == {"database": "ok", "redis": "ok", "milvus": "ok", "encoder": "ok"}
        # Reading words has a worker of its own: indexing never waits behind OCR.
        workers = {pid: cmdline(pid) for pid in children(proc.pid) if " worker " in cmdline(pid)}
        queues = sorted(line.split(" -Q ")[1].split()[0] for line in workers.values())
        assert queues == ["ingest", "ocr", "query"], workers
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert "Gallery" in response.read().decode()
        # A worker that dies is started again.
        (query_worker,) = [pid for pid in children(proc.pid) if "query@%h" in cmdline(pid)]
        os.kill(query_worker, signal.SIGKILL)
        wait_for("worker-query stopped unexpectedly; restarted it.", log)
        assert any("query@%h" in cmdline(pid) for pid in children(proc.pid))

        # The scheduler is its own supervised process, not a child of the ingest worker: killing the
        # worker leaves no scheduler behind, and its restart starts no second one.
        (beat,) = [pid for pid in children(proc.pid) if " beat " in cmdline(pid)]
        (ingest_worker,) = [pid for pid in children(proc.pid) if "ingest@%h" in cmdline(pid)]
        os.kill(ingest_worker, signal.SIGKILL)
        wait_for("worker-ingest stopped unexpectedly; restarted it.", log)
        schedulers = [pid for pid in processes_of(tmp_path / "data") if " beat " in cmdline(pid)]
        assert schedulers == [beat]
        assert not any("--beat" in cmdline(pid) for pid in processes_of(tmp_path / "data"))

        services = json.loads((tmp_path / "data" / "services.json").read_text())
        # The embedded Redis wants its password, which is printed nowhere.
        redis_port = int(services["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=redis_port).ping()
        assert redis.Redis.from_url(services["REDIS_URL"]).ping()
        password = redis.Redis.from_url(services["REDIS_URL"]).connection_pool.connection_kwargs["password"]
        assert password not in log.read_text()
        # The key make run made is private, and a command run beside it reaches the same services.
        assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
        beside = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SHOW_SERVICES],
            cwd=ROOT,
            env={k: v for k, v in env.items() if k != "PORT"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        # The last line: Django's shell may first say how many objects it imported.
        shown = beside.stdout.strip().splitlines()[-1:]
        assert shown == [f"{services['REDIS_URL']} {services['MILVUS_URI']}"], beside.stdout + beside.stderr
        ports = [
            port,
            redis_port,
            int(services["MILVUS_URI"].rsplit(":", 1)[1]),
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0, log.read_text()
    assert not any(port_open("127.0.0.1", p) for p in ports)
    assert not (tmp_path / "data" / "services.json").exists()
    # Nothing of this run survives: no worker, no scheduler, no server, no orphan of the killed worker.
    assert processes_of(tmp_path / "data") == {}
    # Everything it wrote (database, secret key, logs, Redis and Milvus files) is its owner's alone.
    data = tmp_path / "data"
    assert (data / "db.sqlite3").exists() and (data / "logs" / "worker-ingest.log").exists()
    readable = {
        str(p): oct(p.stat().st_mode & 0o777) for p in [data, *data.rglob("*")] if p.stat().st_mode & 0o077
    }
    assert readable == {}


def _interrupts_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("sig", "moment"),
    [
        (signal.SIGINT, "Starting Milvus Lite server"),  # start-up: migrate comes next
        (signal.SIGINT, "Waiting for the workers"),  # the wait for the encoder (up to minutes)
        (signal.SIGTERM, "Press Ctrl-C to stop"),  # running
    ],
)
def test_a_signal_to_make_stops_everything_at_any_moment(tmp_path: Path, sig: int, moment: str) -> None:
    # Issue 20: `kill -INT <pid of make>` left everything running (make forwards no SIGINT and
    # waits for its child), and the launcher ignored signals while it waited for the encoder.
    unset = ("REDIS_URL", "MILVUS_URI", "DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    data = tmp_path / "data"
    env.update(DATA_DIR=str(data), PORT=str(free_port()), CLIP_MODEL="demo")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        make = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # As from a terminal. A suite started as a background job (`make test &`, CI runners)
            # inherits SIGINT ignored, and make then leaves it ignored: the signal would do nothing.
            preexec_fn=_interrupts_as_from_a_terminal,
        )
    try:
        wait_for(moment, log, timeout=300)  # three workers start on 2 busy cores
        assert make.poll() is None, log.read_text()
        (launcher,) = children(make.pid)
        assert processes_of(data).keys() - {make.pid, launcher}, "no service started yet"
        make.send_signal(sig)
        make.wait(120)  # the services get 15 s to stop before they are killed
    finally:
        if make.poll() is None:  # failed: leave nothing behind (the services die with the launcher)
            for pid in [*children(make.pid), make.pid]:
                os.kill(pid, signal.SIGKILL)
            make.wait()
    assert "Stopping ..." in log.read_text()
    assert "Start-up failed" not in log.read_text()
    assert processes_of(data) == {}
    assert not (data / "services.json").exists()
