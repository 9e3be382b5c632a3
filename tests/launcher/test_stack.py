"""The process starter behind `make run`: services come back when they die, unless they keep dying."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from launcher.stack import MAX_RESTARTS, Stack, port_open


def wait_until(predicate, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_killed_redis_is_restarted_on_its_port_with_its_queue(tmp_path: Path) -> None:
    stack = Stack(tmp_path, log_dir=tmp_path / "logs")
    try:
        url = stack.start_redis()
        (service,) = stack.services
        redis.Redis.from_url(url).rpush("ingest", "queued work")
        time.sleep(1.2)  # the append-only file is synced every second
        service.process.send_signal(signal.SIGKILL)
        assert wait_until(lambda: service.process.poll() is not None)

        restarted, broken = stack.supervise()

        assert restarted == [service] and broken is None
        assert port_open("127.0.0.1", service.port)
        assert redis.Redis.from_url(url).lrange("ingest", 0, -1) == [b"queued work"]
    finally:
        stack.stop()
    assert service.process.poll() is not None


def test_a_service_that_keeps_dying_is_given_up(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    crashing = stack._spawn("crashing", [sys.executable, "-c", "raise SystemExit(3)"])
    try:
        for _ in range(MAX_RESTARTS):
            assert wait_until(lambda: crashing.process.poll() is not None)
            restarted, broken = stack.supervise()
            assert restarted == [crashing] and broken is None
        assert wait_until(lambda: crashing.process.poll() is not None)
        assert stack.supervise() == ([], crashing)
        assert crashing.process.returncode == 3
    finally:
        stack.stop()


def test_healthy_services_are_left_alone(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    sleeper = stack._spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert stack.supervise() == ([], None)
        assert sleeper.restarts == []
    finally:
        stack.stop()
    assert sleeper.process.poll() is not None


# ---------------------------------------------------------------------------- nothing left behind

# A service that starts a child, reports the child's pid in its log, and waits.
PARENT_WITH_CHILD = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
    "print('child', child.pid, flush=True)\n"
    "time.sleep(120)\n"
)
SLEEPER = "import time; time.sleep(120)"
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait() is missing


def child_pid(stack: Stack, service) -> int:
    assert wait_until(lambda: "child" in service.log_path.read_text()), stack.tail(service)
    return int(service.log_path.read_text().split()[1])


def test_a_killed_service_leaves_no_child_behind_when_restarted(tmp_path: Path) -> None:
    # As a Celery worker killed with SIGKILL would leave its pool or beat child running.
    stack = Stack(tmp_path, log_dir=tmp_path / "logs")
    service = stack._spawn("parent", [sys.executable, "-c", PARENT_WITH_CHILD.format(child=SLEEPER)])
    try:
        orphan = child_pid(stack, service)
        service.process.send_signal(signal.SIGKILL)
        assert wait_until(lambda: service.process.poll() is not None)
        assert alive(orphan)  # re-parented, still running

        restarted, broken = stack.supervise()

        assert restarted == [service] and broken is None
        assert wait_until(lambda: not alive(orphan))
        assert service.process.poll() is None  # the new one runs
    finally:
        stack.stop()


def test_stop_kills_children_that_ignore_sigterm(tmp_path: Path) -> None:
    stack = Stack(tmp_path, log_dir=tmp_path / "logs")
    service = stack._spawn("parent", [sys.executable, "-c", PARENT_WITH_CHILD.format(child=STUBBORN)])
    stubborn = child_pid(stack, service)
    stack.stop(timeout=2)
    assert service.process.poll() is not None
    assert wait_until(lambda: not alive(stubborn))


def test_services_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from launcher.stack import Stack\n"
            f"stack = Stack({str(tmp_path)!r})\n"
            f"print(stack._spawn('sleeper', [sys.executable, '-c', {SLEEPER!r}]).process.pid, flush=True)\n"
            "time.sleep(120)\n",
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        service = int(supervisor.stdout.readline())
        assert alive(service)
        supervisor.kill()
        supervisor.wait(10)
        assert wait_until(lambda: not alive(service))
    finally:
        supervisor.kill()
        supervisor.wait()
        supervisor.stdout.close()


# ---------------------------------------------------------------------------- private files, Redis password


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_redis_needs_its_password_and_its_files_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    stack = Stack(data_dir, log_dir=data_dir / "logs")
    try:
        url = stack.start_redis()
        (service,) = stack.services
        password = redis.Redis.from_url(url).connection_pool.connection_kwargs["password"]
        assert password and len(password) >= 32
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=service.port).ping()
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        # Nobody else reads it from the process list.
        assert password not in Path(f"/proc/{service.process.pid}/cmdline").read_text()
        assert wait_until(lambda: any((data_dir / "redis").rglob("*.aof")))
    finally:
        stack.stop()
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "redis") == 0o700 and mode(data_dir / "logs") == 0o700
    assert mode(data_dir / "redis" / "redis.conf") == 0o600
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"redis.conf", "redis.log"}
    assert {p: oct(mode(p)) for p in files if mode(p) & 0o077} == {}


def test_beat_runs_one_at_a_time_per_data_dir(tmp_path: Path) -> None:
    stack = Stack(tmp_path, log_dir=tmp_path / "logs")
    try:
        stack.start_redis()
        first = stack.start_beat()
        pidfile = tmp_path / "celerybeat.pid"
        assert wait_until(lambda: pidfile.exists(), 60), stack.tail(first)
        assert int(pidfile.read_text()) == first.process.pid
        assert "beat" in first.argv
        second = stack._spawn("beat-2", first.argv)
        assert wait_until(lambda: second.process.poll() is not None, 60), "a second beat started"
        assert first.process.poll() is None
        assert "already exists" in stack.tail(second)
        stack.services.remove(second)
        # Killed, it is started again: the stale pid file does not stop it.
        first.process.send_signal(signal.SIGKILL)
        assert wait_until(lambda: first.process.poll() is not None)
        assert stack.supervise() == ([first], None)
        assert wait_until(lambda: pidfile.exists() and int(pidfile.read_text()) == first.process.pid, 60)
    finally:
        stack.stop()


def became_the_worker(pid: int) -> bool:
    """`nice` has set the priority and executed the worker in its place."""
    return Path(f"/proc/{pid}/comm").read_text().strip() != "nice"


def test_background_workers_run_at_a_lower_cpu_priority_after_a_restart_too(tmp_path: Path) -> None:
    import os

    stack = Stack(tmp_path, log_dir=tmp_path / "logs")
    stack.env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # never reached: only the process is looked at
    base = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        low = stack.start_worker("ocr", name="ocr", nice=10)
        normal = stack.start_worker("query", name="query")
        lowered = min(19, base + 10)
        # `nice` sets the priority, then becomes the worker (same pid).
        assert wait_until(lambda: became_the_worker(low.process.pid))
        assert os.getpriority(os.PRIO_PROCESS, low.process.pid) == lowered
        assert os.getpriority(os.PRIO_PROCESS, normal.process.pid) == base
        low.process.send_signal(signal.SIGKILL)
        assert wait_until(lambda: low.process.poll() is not None)
        stack.restart(low)
        assert wait_until(lambda: became_the_worker(low.process.pid))
        assert os.getpriority(os.PRIO_PROCESS, low.process.pid) == lowered
    finally:
        stack.stop()
