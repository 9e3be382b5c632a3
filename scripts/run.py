"""`make run`: the whole app in the foreground; Ctrl-C stops everything it started."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webapp.stack import Stack  # noqa: E402


def encoder_state(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            return json.load(response)["encoder"]
    except urllib.error.HTTPError as exc:
        return json.load(exc)["encoder"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def settled(state: str) -> bool:
    return state == "ok" or (state.startswith("error") and "no worker" not in state)


def wait_for_encoder(url: str, stack: Stack, timeout: float = 60) -> str:
    """The encoder state once the workers have reported ("ok" or an error), or "loading"."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline and not stack.first_exited():
        state = encoder_state(url)
        if settled(state):
            return state
        time.sleep(0.5)
    return "loading" if state in ("loading", "unknown") or "no worker" in state else state


def banner(url: str, encoder: str, stack: Stack) -> str:
    model = os.environ.get("CLIP_MODEL") or "openai/clip-vit-base-patch32"
    if encoder == "ok":
        note = " (random-weight demo model: only near-identical images match)" if model == "demo" else ""
        status = f"  Model: {model}{note}"
    elif encoder == "loading":
        status = (
            f"  Model: {model} is still loading (the first start downloads it);\n"
            "  uploads are accepted now, searches work once it is ready."
        )
    else:
        status = (
            f"  Model: {model} is NOT available: {encoder}\n"
            "  The site runs and keeps uploads pending until a model loads."
        )
    return (
        f"\n  Image search is running: {url}\n{status}\n"
        f"  Data:  {stack.data_dir}   Logs: {stack.log_dir}\n  Press Ctrl-C to stop.\n"
    )


def main() -> int:
    data_dir = Path(os.environ.get("DATA_DIR") or "data")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    stack = Stack(data_dir, log_dir=data_dir / "logs")
    stopping = False
    services_file = stack.data_dir / "services.json"

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if not os.environ.get("REDIS_URL"):
            print(f"Starting Redis ... {stack.start_redis()}", flush=True)
        if not os.environ.get("MILVUS_URI"):
            print(f"Starting Milvus Lite server ... {stack.start_milvus()}", flush=True)
        services_file.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "REDIS_URL": stack.env.get("REDIS_URL", ""),
                    "MILVUS_URI": stack.env.get("MILVUS_URI", ""),
                }
            )
        )
        stack.manage("migrate", "--noinput", "-v", "0")
        stack.manage("collectstatic", "--noinput", "-v", "0")
        stack.start_worker("ingest", beat=True)
        stack.start_worker("query", concurrency=4)
        stack.start_web(host, port)
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        url = f"http://{shown_host}:{port}"
        print("Waiting for the workers to load the model ...", flush=True)
        state = wait_for_encoder(url, stack)
        print(banner(url, state, stack), flush=True)
        last_check = time.monotonic()
        while not stopping:
            if not settled(state) and time.monotonic() - last_check > 5:
                last_check = time.monotonic()
                state = encoder_state(url)
                if settled(state):
                    print(
                        f"  Model ready: {state}" if state == "ok" else f"  Model failed: {state}", flush=True
                    )
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
    except Exception as exc:
        print(f"Start-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("Stopping ...", flush=True)
        services_file.unlink(missing_ok=True)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
