"""`make run`: the whole app in the foreground; Ctrl-C stops everything it started."""

from __future__ import annotations

import enum
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from launcher.environment import forget_services, live_run, prepare, record_services
from launcher.stack import Stack
from launcher.topology import plan

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
STATE_HEADER = "X-Encoder-State"


class EncoderState(enum.StrEnum):
    """/healthz's machine-readable encoder state, sent in its X-Encoder-State header."""

    OK = "ok"
    LOADING = "loading"
    NO_WORKER = "no_worker"  # the workers have not reported yet: still starting
    ERROR = "error"

    @property
    def settled(self) -> bool:
        """The workers reported: the model loaded, or failed for good."""
        return self in (EncoderState.OK, EncoderState.ERROR)


WORKERS_HEADER = "X-Worker-States"


@dataclass
class Readiness:
    """What /healthz says about the workers: the encoder answering searches (and its message, for
    people), and the state of the workers serving each queue."""

    encoder: EncoderState = EncoderState.LOADING
    message: str = ""
    queues: dict[str, EncoderState] = field(default_factory=dict)

    def waiting_for(self, queues: list[str]) -> list[str]:
        """The queues whose workers cannot answer yet (a settled error counts as an answer)."""
        return [q for q in queues if not self.queues.get(q, EncoderState.LOADING).settled]


def _queue_states(header: str | None) -> dict[str, EncoderState]:
    """`ingest=ok,ocr=loading,query=ok`; anything unreadable means still loading."""
    states = {}
    for part in (header or "").split(","):
        queue, _, value = part.strip().partition("=")
        if queue:
            try:
                states[queue] = EncoderState(value)
            except ValueError:
                states[queue] = EncoderState.LOADING
    return states


def readiness(url: str) -> Readiness:
    try:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
                headers, body = response.headers, json.load(response)
        except urllib.error.HTTPError as exc:  # a 503 (some component down) still carries the body
            with exc:
                headers, body = exc.headers, json.load(exc)
    except (OSError, ValueError):  # not answering yet
        return Readiness()
    message = str(body.get("encoder", "")) if isinstance(body, dict) else ""
    try:
        # A missing or unknown value keeps us waiting rather than calling the model broken.
        state = EncoderState(headers.get(STATE_HEADER) or EncoderState.LOADING)
    except ValueError:
        state = EncoderState.LOADING
    return Readiness(state, message, _queue_states(headers.get(WORKERS_HEADER)))


def encoder_state(url: str) -> tuple[EncoderState, str]:
    """The encoder's state from /healthz, and its plain-words message (for people, never parsed)."""
    ready = readiness(url)
    return ready.encoder, ready.message


def wait_until_ready(
    url: str, stack: Stack, queues: list[str], timeout: float = 600, progress_every: float = 15
) -> Readiness:
    """Wait until every worker started for `queues` can answer (its model or engine loaded, or
    failed for good) and the encoder answering searches has settled; the last state seen if a
    service dies meanwhile or the time runs out (a first start may be downloading the model)."""
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + progress_every
    ready = Readiness()
    while time.monotonic() < deadline and not stack.first_exited():
        ready = readiness(url)
        waiting = ready.waiting_for(queues)
        if ready.encoder.settled and not waiting:
            break
        if time.monotonic() >= next_note:
            next_note += progress_every
            print(f"  Still waiting for the {', '.join(waiting) or 'query'} worker(s) ...", flush=True)
        time.sleep(0.5)
    return ready


def banner(url: str, state: EncoderState, message: str, stack: Stack) -> str:
    model = stack.env.get("CLIP_MODEL") or DEFAULT_MODEL
    if state is EncoderState.OK:
        note = " (random-weight demo model: only near-identical images match)" if model == "demo" else ""
        status = f"  Model: {model}{note}"
    elif state is EncoderState.ERROR:
        status = (
            f"  Model: {model} is NOT available: {message}\n"
            "  The site runs and keeps uploads pending until a model loads."
        )
    else:
        status = (
            f"  Model: {model} is still loading (the first start downloads it);\n"
            "  uploads are accepted now, searches work once it is ready."
        )
    return (
        f"\n  Image search is running: {url}\n{status}\n"
        f"  Data:  {stack.data_dir}   Logs: {stack.log_dir}\n  Press Ctrl-C to stop.\n"
    )


WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]")


def redacted(url: str) -> str:
    """A URL fit to print: its password replaced."""
    parts = urllib.parse.urlsplit(url)
    if not parts.password:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def port_from(env: Mapping[str, str]) -> int:
    value = env.get("PORT", "").strip() or "8000"
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"PORT must be a port number (1-65535), got {value!r}")
    return int(value)


class Stopped(Exception):
    """A SIGINT or SIGTERM arrived while starting: stop waiting, stop what started."""


FATAL_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM})
MAKE_NAMES = ("make", "gmake")


def caught_signals(pid: int) -> frozenset[int] | None:
    """The signals process `pid` handles itself (its SigCgt mask in /proc); None if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                mask = int(line.split()[1], 16)
                return frozenset(n for n in range(1, 65) if mask >> (n - 1) & 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def parent_gave_up(parent: int, handled: frozenset[int]) -> bool:
    """Our parent died, or (a make) stopped handling a fatal signal it handled when we started."""
    if os.getppid() != parent:
        return True
    now = caught_signals(parent)
    return now is not None and bool(handled - now)


def watch_parent(interval: float = 0.2) -> threading.Thread | None:
    """Stop (a SIGTERM to ourselves) when the `make` that started us is told to stop.

    make forwards a SIGTERM to its child, but not a SIGINT (or SIGHUP, SIGQUIT): it expects the
    terminal to have sent it to the whole process group, so a `kill -INT <pid of make>` would
    leave everything running while make waited for us forever. make resets a fatal signal's
    handler to the default while it waits for its children, which its /proc status shows."""
    parent = os.getppid()
    try:
        name = Path(f"/proc/{parent}/comm").read_text().strip()
    except OSError:
        return None
    handled = (caught_signals(parent) or frozenset()) & FATAL_SIGNALS
    if name not in MAKE_NAMES or not handled:
        return None

    def watch() -> None:
        while not parent_gave_up(parent, handled):
            time.sleep(interval)
        # To the main thread itself: a process-wide signal may land on this thread, and then the
        # main thread's blocking call (migrate, a port, the encoder's wait) is not interrupted and
        # the handler waits until that call returns on its own (minutes on a busy machine).
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def main() -> int:
    # Prepared once here, then handed to every child through Stack.env: the secret key, DATA_DIR and
    # the service addresses reach gunicorn, the workers and manage.py explicitly.
    try:
        env = prepare(dict(os.environ), join_running=False)
    except (OSError, RuntimeError) as exc:
        print(f"Start-up failed: {exc}", file=sys.stderr)
        return 1
    data_dir = Path(env["DATA_DIR"])
    other = live_run(data_dir)
    if other:
        print(
            f"Another `make run` (pid {other['pid']}) is already using {data_dir}; "
            "stop it first or set DATA_DIR to another folder.",
            file=sys.stderr,
        )
        return 1
    host = env.get("HOST", "").strip() or "127.0.0.1"
    env["HOST"] = host  # settings derive ALLOWED_HOSTS from it
    port = port_from(env)
    workers = plan(env)  # before anything starts: a bad QUERY_CONCURRENCY or OCR_WORKERS stops here
    stack = Stack(data_dir, env=env, log_dir=data_dir / "logs")
    stopping, starting = False, True

    def stop(signum, frame):
        nonlocal stopping
        if stopping:
            return  # already stopping: let stack.stop() finish
        stopping = True
        if starting:  # interrupt whatever start-up waits for (migrate, a port, the encoder)
            raise Stopped

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    watch_parent()
    try:
        if not env.get("REDIS_URL", "").strip():
            stack.start_redis()
            print(f"Starting Redis ... {redacted(stack.env['REDIS_URL'])}", flush=True)
        if not env.get("MILVUS_URI", "").strip():
            print(f"Starting Milvus Lite server ... {stack.start_milvus()}", flush=True)
        record_services(data_dir, stack.env)
        stack.manage("migrate", "--noinput", "-v", "0")
        stack.manage("collectstatic", "--noinput", "-v", "0")
        for w in workers:  # ingest, ocr and query each its own process: none waits behind another
            stack.start_worker(w.queues, concurrency=w.concurrency, pool=w.pool, name=w.name, nice=w.nice)
        stack.start_beat()
        stack.start_web(host, port)
        shown_host = "127.0.0.1" if host in (*WILDCARD_HOSTS, "") else host
        url = f"http://{shown_host}:{port}"
        print("Waiting for the workers to load the model ...", flush=True)
        # "running" only once every worker can answer: a search then never meets a loading model.
        ready = wait_until_ready(url, stack, [w.queues for w in workers])
        state, message = ready.encoder, ready.message
        print(banner(url, state, message, stack), flush=True)
        failed = [q for q, s in ready.queues.items() if s is EncoderState.ERROR]
        for queue in [*ready.waiting_for([w.queues for w in workers]), *failed]:
            print(f"  The {queue} worker is not ready: see {stack.log_dir}/worker-{queue}.log", flush=True)
        if host in WILDCARD_HOSTS and not env.get("ALLOWED_HOSTS", "").strip():
            print(
                f"  HOST={host} listens on every interface, but only local names are allowed: set\n"
                "  ALLOWED_HOSTS to the names this machine is reached by (comma-separated).\n",
                flush=True,
            )
        last_check = time.monotonic()
        starting = False
        while not stopping:
            if not state.settled and time.monotonic() - last_check > 5:
                last_check = time.monotonic()
                state, message = encoder_state(url)
                if state is EncoderState.OK:
                    print(f"  Model ready: {message}", flush=True)
                elif state is EncoderState.ERROR:
                    print(f"  Model failed: {message}", flush=True)
            restarted, broken = stack.supervise()
            for service in restarted:
                print(f"  {service.name} stopped unexpectedly; restarted it.", file=sys.stderr, flush=True)
            if broken:
                print(
                    f"{broken.name} keeps stopping (exit code {broken.process.returncode}); "
                    f"shutting down. Its log ends with:\n{stack.tail(broken)}",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
        return 0
    except Stopped:
        return 0
    except Exception as exc:
        print(f"Start-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stopping, starting = True, False  # a second signal no longer interrupts the clean-up
        print("Stopping ...", flush=True)
        forget_services(data_dir)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
