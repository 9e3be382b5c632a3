"""The process starter behind `make run`: services come back when they die, unless they keep dying."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

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
