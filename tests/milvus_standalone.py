"""A real Milvus standalone server for the test suite: the PyPI package `milvus` (2.3.5) ships the
Milvus binary with embedded etcd and local storage, the same engine as a production deployment.

    python -m tests.milvus_standalone BASE_DIR PORT [--bin-cache DIR]

conftest.py's `milvus_standalone` fixture runs this through the launcher's Stack: it lives in its
own process group, which the session's teardown kills, and the binary gets SIGTERM should this
script die. The package writes the configuration (ports from PORT up, data under BASE_DIR); the
binary is started here, not by the package's `start()`, which names no alias (so a second server on
the machine, another session's, fails on the shared /run/milvus/standalone.pid) and polls for 180 s
after the binary has died. BASE_DIR/ready holds the port once the server's health check answers; a
start that fails exits non-zero with the end of Milvus's log.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import milvus

PR_SET_PDEATHSIG = 1
START_TIMEOUT_S = 150


def unpack_binary(base_dir: Path, cache: Path | None) -> None:
    """The package unpacks its ~250 MB binary into BASE_DIR/bin (3 s of CPU): keep one unpacked
    copy per package version and link it in. Its md5 check skips files already unpacked; the lock
    keeps two sessions from writing the same file at once."""
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        (base_dir / "bin").symlink_to(cache.resolve(), target_is_directory=True)
        with open(cache / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            milvus._initialize_data_files(str(base_dir))
    else:
        milvus._initialize_data_files(str(base_dir))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_own_etcd_ports(configs: Path) -> None:
    """The embedded etcd listens on etcd's defaults (2379, 2380) whatever the package configures,
    so a second server on the machine would die binding them: give it free ports of its own."""
    client, peer = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
    etcd = configs / "etcd.yaml"
    etcd.write_text(
        f"listen-client-urls: {client}\nadvertise-client-urls: {client}\n"
        f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\ninitial-cluster: default={peer}\n"
    )
    milvus_yaml = configs / "milvus.yaml"
    text = milvus_yaml.read_text()
    assert text.count("\netcd:\n") == 1, "unexpected milvus.yaml layout"
    milvus_yaml.write_text(text.replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd}\n"))


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return b"OK" in response.read()
    except OSError:
        return False


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def start(base_dir: Path, first_port: int, bin_cache: Path | None) -> tuple[subprocess.Popen, int, int]:
    """Start the binary; its gRPC port and health port. The package finds free ports by binding and
    releasing them, so two servers starting at once would pick the same: starts on this machine
    take turns, each holding the lock until its server listens."""
    with open(Path(tempfile.gettempdir()) / "milvus-standalone-start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        config = milvus.MilvusServerConfig()
        config.update(data_dir=str(base_dir))
        config.set("proxy_port", first_port)
        config.resolve()  # free ports for the proxy and the coordinators; writes configs/milvus.yaml
        use_own_etcd_ports(base_dir / "configs")
        unpack_binary(base_dir, bin_cache / f"milvus-{milvus.__version__}" if bin_cache else None)
        health_port, sock = config.resolve_port(9091)
        sock.close()
        bin_dir = base_dir / "bin"
        env = dict(os.environ)
        env.update(
            DEPLOY_MODE="STANDALONE",
            METRICS_PORT=str(health_port),
            LD_LIBRARY_PATH=f"{bin_dir}:{env.get('LD_LIBRARY_PATH', '')}",
        )
        with open(base_dir / "logs" / "milvus.log", "wb") as out:
            process = subprocess.Popen(
                # The alias names the pid file: one per server, so servers of two sessions coexist.
                [str(bin_dir / "milvus"), "run", "standalone", "-alias", f"test-{os.getpid()}"],
                cwd=base_dir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        wait_healthy(process, health_port, base_dir / "logs" / "milvus.log")
        return process, int(config.get("proxy_port")), health_port


def wait_healthy(process: subprocess.Popen, health_port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not healthy(health_port):
        if process.poll() is not None:
            raise RuntimeError(f"Milvus exited at start-up with {process.returncode}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Milvus not healthy after {START_TIMEOUT_S} s:\n{tail(log)}")
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_dir", type=Path)
    parser.add_argument("port", type=int, help="the first port tried for the gRPC endpoint")
    parser.add_argument("--bin-cache", type=Path)
    args = parser.parse_args()
    base_dir = args.base_dir.resolve()
    base_dir.mkdir(parents=True, exist_ok=True)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    process = None
    try:
        process, port, _ = start(base_dir, args.port, args.bin_cache)
        (base_dir / "ready.tmp").write_text(str(port))
        (base_dir / "ready.tmp").rename(base_dir / "ready")  # whole, or not there
        print(f"Milvus {milvus.__version__} listening on 127.0.0.1:{port}", flush=True)
        code = process.wait()
        log = tail(base_dir / "logs" / "milvus.log")
        print(f"Milvus exited by itself with {code}:\n{log}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    sys.exit(main())
