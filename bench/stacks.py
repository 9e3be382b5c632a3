"""`make run` as the benchmark starts it: `python -m launcher.run` (the same Stack of Redis, Milvus
Lite server, Celery workers, beat and gunicorn) in a throw-away DATA_DIR on a free port, one per
thread setting; and what the processes of one cost (CPU time, peak memory), read from /proc."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from launcher.stack import free_port

ROOT = Path(__file__).resolve().parents[1]
# The bench is the only client: the throttles a public site needs would refuse its bursts.
UNTHROTTLED = {
    f"THROTTLE_{scope}{suffix}": rate
    for scope, rate in (("SEARCH", "1000000/min"), ("UPLOAD", "1000000/hour"), ("AUTH", "10000/min"))
    for suffix in ("", "_IP")
}
PASSWORD = "bench-password-not-secret"
THREAD_VARIABLES = ("TORCH_NUM_THREADS", "QUERY_TORCH_THREADS")
_PR_SET_PDEATHSIG = 1
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def child_env(data_dir: Path, **extra: str | None) -> dict[str, str]:
    """This environment for a child: its own DATA_DIR and services (never the caller's Redis,
    Milvus or database), the normal settings, the model cache kept (the demo model is built once)."""
    env = dict(os.environ)
    for name in ("REDIS_URL", "MILVUS_URI", "DATABASE_URL", "DJANGO_SECRET_KEY", "PORT", *THREAD_VARIABLES):
        env.pop(name, None)
    env.update(
        DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="webapp.settings",
        MODEL_CACHE_DIR=str(settings.MODEL_CACHE_DIR),
        PYTHONUNBUFFERED="1",
    )
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    """`manage.py ARGS` in a child with `env`; its stdout (a failure raises with its output)."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def last_json(output: str) -> dict:
    """The JSON object a bench phase prints last (logs may come before it)."""
    return json.loads(output[output.rindex("\n{") + 1 :] if "\n{" in output else output)


@dataclass
class RunningStack:
    name: str
    torch_threads: int | None  # None: the defaults `make run` picks
    data_dir: Path
    port: int
    process: subprocess.Popen
    lines: queue.Queue = field(default_factory=queue.Queue)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def services(self) -> dict[str, str]:
        """REDIS_URL and MILVUS_URI, as `make run` records them for commands run beside it."""
        return json.loads((self.data_dir / "services.json").read_text())

    def describe(self) -> dict:
        return {
            "name": self.name,
            "torch_threads": self.torch_threads,
            "url": self.url,
            "data_dir": str(self.data_dir),
            "pid": self.process.pid,
            "redis_url": self.services().get("REDIS_URL", ""),
            "username": "bench",
            "password": PASSWORD,
        }


def start(name: str, root: Path, torch_threads: int | None) -> RunningStack:
    data_dir = root / name
    port = free_port()
    threads = None if torch_threads is None else str(torch_threads)
    # The setting applies to every worker's torch: the ingest worker's and the query worker's.
    env = child_env(data_dir, PORT=str(port), HOST="127.0.0.1", CLIP_MODEL="demo")
    env.update({name: threads for name in THREAD_VARIABLES if threads is not None})
    env.update(UNTHROTTLED)
    process = subprocess.Popen(
        [sys.executable, "-m", "launcher.run"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    stack = RunningStack(name, torch_threads, data_dir, port, process, env=env)
    threading.Thread(target=_pump, args=(process, stack.lines), daemon=True).start()
    return stack


def _die_with_parent() -> None:
    """A killed bench leaves no `make run` behind: the launcher gets SIGTERM (its Ctrl-C) then."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _pump(process: subprocess.Popen, lines: queue.Queue) -> None:
    for line in process.stdout:
        lines.put(line)
    lines.put(None)


def wait_ready(stack: RunningStack, timeout: float = 240) -> None:
    """Until the launcher prints its banner with the model answering; then a user to sign in as."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = stack.lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            raise RuntimeError(f"stack {stack.name} stopped at start-up:\n{''.join(seen[-30:])}")
        seen.append(line)
        if "NOT available" in line:
            raise RuntimeError(f"stack {stack.name}: the model did not load:\n{''.join(seen[-30:])}")
        if "Model: demo" in line:
            env = dict(stack.env, **{k: v for k, v in stack.services().items() if k != "pid"})
            manage(env, "bench", "--phase", "user", "--username", "bench", "--password", PASSWORD)
            return
    raise RuntimeError(f"stack {stack.name} not ready within {timeout:g} s:\n{''.join(seen[-30:])}")


def stop(stack: RunningStack) -> None:
    """Ctrl-C, as a person stops `make run`; it stops every service it started."""
    if stack.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            stack.process.send_signal(signal.SIGINT)
        try:
            stack.process.wait(60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(stack.process.pid, signal.SIGKILL)
            stack.process.wait()


# ---------------------------------------------------------------------------- /proc


def _stat(pid: int) -> list[str] | None:
    try:
        # "pid (name) state ppid ...": the name may hold spaces, so split after its ")".
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree(pid: int) -> list[int]:
    """`pid` and every process below it (the services run in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / _TICK


def wait_quiet(pids_of, limit: float = 0.15, timeout: float = 90) -> float:
    """Until the processes use less than `limit` of a core over a second (OCR, index builds and
    flushes of the last burst finished), at most `timeout` s; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pids = pids_of()
        before = cpu_seconds(pids)
        time.sleep(1)
        if cpu_seconds(pids) - before < limit:
            break
    return time.monotonic() - started


def _service(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    if "launcher.run" in text:
        return "launcher (make run)"
    if "redis-server" in text:
        return "redis"
    if "milvus" in text:
        return "milvus-lite server"
    if "celery" in text and " beat" in text:
        return "celery beat"
    if "celery" in text and "-n" in cmdline:
        return "worker " + cmdline[cmdline.index("-n") + 1].split("@")[0]
    if "gunicorn" in text:
        return "gunicorn"
    if "manage.py" in text:
        return "manage.py " + " ".join(cmdline[cmdline.index("manage.py") + 1 :][:1])
    return Path(cmdline[0]).name if cmdline else "?"


def peak_rss(pid: int) -> list[dict]:
    """Each process of the tree: its service and peak resident memory (VmHWM), largest first."""
    found = []
    for member in tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
            cmdline = Path(f"/proc/{member}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        peak = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
        if peak is not None:
            found.append(
                {
                    "pid": member,
                    "process": _service([c for c in cmdline if c]),
                    "peak_rss_mb": int(peak) // 1024,
                }
            )
    return sorted(found, key=lambda p: -p["peak_rss_mb"])
