"""A throwaway PostgreSQL server for one command: `make test`'s PostgreSQL pass.

    python -m tests.postgres_server [--bindir DIR] COMMAND [ARG...]

Runs COMMAND with TEST_DATABASE_URL pointing at a PostgreSQL server started for it (initdb into a
fresh temporary folder, a free port on 127.0.0.1, trust auth for the `postgres` role, no fsync)
and exits with COMMAND's status after stopping the server and removing its folder. A
TEST_DATABASE_URL already set is used as it is: no server is started.

The server binaries are Debian's (/usr/lib/postgresql/N/bin, the newest N; `make test` installs the
`postgresql` package with apt when there are none), else those `pg_config --bindir` or PATH name.
PostgreSQL refuses to run as root, so as root (CI) the server runs as the `postgres` user the
package creates (else `nobody`). A server that cannot start makes this exit 1, saying why and with
the end of its log: the PostgreSQL pass fails, it never skips.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from launcher.stack import free_port

START_TIMEOUT_S = 60
PR_SET_PDEATHSIG = 1
DEBIAN_ROOT = Path("/usr/lib/postgresql")
# Speed over durability: the database lives for one test run.
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",  # test session, live server threads, three worker processes
}


class StartError(RuntimeError):
    """The server could not be started; the message says why."""


@dataclass
class Server:
    process: subprocess.Popen
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


def _version(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


def find_bindir() -> Path:
    """The folder holding `initdb` and `postgres`: Debian's newest, else pg_config's, else PATH's."""
    debian = sorted((p.parent for p in DEBIAN_ROOT.glob("*/bin/postgres")), key=_version)
    if debian:
        return debian[-1]
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "postgres").exists():
            return candidate
    if postgres := shutil.which("postgres"):
        return Path(postgres).resolve().parent
    raise StartError(
        "no PostgreSQL server binaries (initdb, postgres) found: `make test` installs Debian's "
        "`postgresql` package with apt; elsewhere install PostgreSQL, or set TEST_DATABASE_URL"
    )


def server_user() -> pwd.struct_passwd | None:
    """The unprivileged account the server runs as, or None to run as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise StartError("running as root, and there is no `postgres` or `nobody` user to run PostgreSQL as")


def _as(user: pwd.struct_passwd | None) -> dict:
    """Popen arguments that run a process as `user` (PostgreSQL refuses root)."""
    return {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _die_with_parent() -> None:
    # Set after the switch of user (which clears it): should this script be killed, the server
    # shuts down at once instead of outliving the run.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGQUIT)


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _initdb(bin_dir: Path, data: Path, user: pwd.struct_passwd | None) -> None:
    argv = [str(bin_dir / "initdb"), "-D", str(data), "--username=postgres", "--auth=trust"]
    # C.UTF-8: pg_trgm then sees Chinese as word characters (in plain C it drops them).
    argv += ["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]
    try:
        # cwd: the server's user may not be allowed into ours (a root-owned checkout).
        done = subprocess.run(argv, cwd=data.parent, capture_output=True, text=True, check=False, **_as(user))
    except OSError as exc:
        raise StartError(f"could not run initdb: {exc}") from exc
    if done.returncode != 0:
        raise StartError(f"initdb failed ({done.returncode}):\n{done.stderr or done.stdout}")


def _spawn(bin_dir: Path, folder: Path, port: int, user: pwd.struct_passwd | None) -> subprocess.Popen:
    argv = [str(bin_dir / "postgres"), "-D", str(folder / "data"), "-p", str(port)]
    argv += ["-h", "127.0.0.1", "-k", str(folder)]  # its socket in its own folder, not /run
    for name, value in SERVER_SETTINGS.items():
        argv += ["-c", f"{name}={value}"]
    with open(folder / "server.log", "wb") as log:
        # Its own session: a Ctrl-C at the terminal stops the tests, which still need the
        # server for their teardown; stop() shuts it down after them.
        return subprocess.Popen(
            argv,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            **_as(user),
        )


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            psycopg.connect(server.url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            pass
        if server.process.poll() is not None:
            log = tail(server.folder / "server.log")
            raise StartError(f"PostgreSQL exited at start-up with {server.process.returncode}:\n{log}")
        if time.monotonic() > deadline:
            log = tail(server.folder / "server.log")
            raise StartError(f"PostgreSQL did not accept connections in {START_TIMEOUT_S} s:\n{log}")
        time.sleep(0.1)


def start(bin_dir: Path | None = None) -> Server:
    """A fresh server, accepting connections; stop() removes it and its folder."""
    bin_dir = bin_dir or find_bindir()
    if not (bin_dir / "initdb").exists():
        raise StartError(f"no initdb in {bin_dir}")
    user = server_user()
    folder = Path(tempfile.mkdtemp(prefix="imagesearch-pg-"))
    try:
        if user is not None:
            os.chown(folder, user.pw_uid, user.pw_gid)
        _initdb(bin_dir, folder / "data", user)
        port = free_port()
        server = Server(_spawn(bin_dir, folder, port, user), folder, port)
        _wait_ready(server)
        return server
    except BaseException:
        if "server" in locals():
            stop(server)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def stop(server: Server) -> None:
    """Fast shutdown (open sessions are disconnected), then the folder goes."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    shutil.rmtree(server.folder, ignore_errors=True)


def run(command: list[str], env: dict[str, str]) -> int:
    """COMMAND's exit status. A Ctrl-C reaches it directly (same process group); this waits for
    it to finish its teardown. SIGTERM is passed on."""
    # A background job of `make test`'s shell starts with SIGINT ignored: give the child Python's default.
    child = subprocess.Popen(
        command, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    code = child.wait()
    return 128 - code if code < 0 else code  # killed by signal N: the shell's 128 + N


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bindir", type=Path, help="the folder of initdb and postgres (default: found)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("give the command to run")
    env = dict(os.environ)
    if env.get("TEST_DATABASE_URL"):
        print("PostgreSQL pass on TEST_DATABASE_URL (no throwaway server)", flush=True)
        return run(args.command, env)
    try:
        server = start(args.bindir)
    except StartError as exc:
        print(f"The throwaway PostgreSQL for the tests could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        print(f"Throwaway PostgreSQL listening on 127.0.0.1:{server.port} ({server.folder})", flush=True)
        env["TEST_DATABASE_URL"] = server.url
        return run(args.command, env)
    finally:
        stop(server)


if __name__ == "__main__":
    sys.exit(main())
