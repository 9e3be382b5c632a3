"""`make run`'s starter: every service comes up, the site answers, Ctrl-C stops them all."""

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
        deadline = time.monotonic() + 120
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
        assert health == {"database": "ok", "redis": "ok", "milvus": "ok", "encoder": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert "Gallery" in response.read().decode()
        # A worker that dies is started again.
        (query_worker,) = [pid for pid in children(proc.pid) if "query@%h" in cmdline(pid)]
        os.kill(query_worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while "worker-query stopped unexpectedly; restarted it." not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert any("query@%h" in cmdline(pid) for pid in children(proc.pid))

        services = json.loads((tmp_path / "data" / "services.json").read_text())
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
            int(services["REDIS_URL"].split(":")[2].split("/")[0]),
            int(services["MILVUS_URI"].rsplit(":", 1)[1]),
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0, log.read_text()
    assert not any(port_open("127.0.0.1", p) for p in ports)
    assert not (tmp_path / "data" / "services.json").exists()
