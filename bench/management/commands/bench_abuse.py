"""The audit's memory attack, replayed against a real stack: anonymous clients post a 10000x10000
image to POST /api/search/ for a while, and a signed-in user searches by text meanwhile.

It starts its own Redis, Milvus Lite server, query worker (4 threads, as `make run`) and gunicorn
(2 workers x 4 threads) on a throw-away DATA_DIR, with throttles lifted so that the memory bounds
are what is measured. Reported: answers by status, peak RSS of the query worker and of the web
processes (each process with its children), text search latency p50/p95 during the attack.

    CLIP_MODEL=demo manage.py bench_abuse --seconds 30 --clients 8 --image png
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import requests
from django.core.management.base import BaseCommand

from bench.huge_images import huge_jpeg, huge_png
from launcher.stack import Stack, free_port

LIFTED = "100000/min"
THROTTLE_VARIABLES = [
    "THROTTLE_SEARCH",
    "THROTTLE_SEARCH_IP",
    "THROTTLE_SEARCH_IMAGE",
    "THROTTLE_SEARCH_IMAGE_IP",
    "THROTTLE_UPLOAD",
    "THROTTLE_UPLOAD_IP",
]
MAKE_USER = (
    "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token; "
    "u = get_user_model().objects.create_user('bench', password='bench-pass-123'); "
    "print(Token.objects.create(user=u).key)"
)


def tree_rss_mb(pid: int) -> float:
    try:
        process = psutil.Process(pid)
        processes = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for each in processes:
        with contextlib.suppress(psutil.Error):  # a child that just ended
            total += each.memory_info().rss
    return total / 2**20


def web_worker_pids(master: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(master).children()]
    except psutil.Error:
        return []


class Command(BaseCommand):
    help = "Replay the anonymous heavy-image search attack against a real stack and measure memory."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seconds", type=float, default=30.0)
        parser.add_argument("--clients", type=int, default=8)
        parser.add_argument("--image", choices=["png", "jpeg"], default="png")
        parser.add_argument("--side", type=int, default=10000)
        parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
        parser.add_argument(
            "--ingest",
            type=int,
            default=0,
            metavar="N",
            help="instead: upload N huge images, then a small one; time until the small one is indexed",
        )

    def handle(self, *args, **options) -> None:
        data_dir = Path(tempfile.mkdtemp(prefix="bench-abuse-"))
        stack = Stack(data_dir, log_dir=data_dir / "logs")
        for name in ("REDIS_URL", "MILVUS_URI", "DATABASE_URL"):
            stack.env.pop(name, None)
        stack.env["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
        stack.env["DATABASE_URL"] = f"sqlite:///{data_dir / 'db.sqlite3'}"
        stack.env.update({name: LIFTED for name in THROTTLE_VARIABLES})
        try:
            figures = (
                self.run_ingest(stack, options) if options["ingest"] else self.run_attack(stack, options)
            )
        finally:
            stack.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        if options["json"]:
            self.stdout.write(json.dumps(figures))
            return
        for key, value in figures.items():
            self.stdout.write(f"{key:32} {value}")

    def prepare(self, stack: Stack) -> str:
        """Redis, Milvus and a migrated database with one user; returns the user's API token."""
        stack.start_redis()
        stack.start_milvus()
        stack.manage("migrate", "--noinput", "-v", "0")
        return (
            subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", MAKE_USER],
                env=stack.env,
                check=True,
                capture_output=True,
                text=True,
                cwd=Path(__file__).resolve().parents[3],
            )
            .stdout.strip()
            .splitlines()[-1]
        )

    def run_ingest(self, stack: Stack, options) -> dict:
        token = self.prepare(stack)
        worker = stack.start_worker("ingest")
        port = free_port()
        stack.start_web("127.0.0.1", port)
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Token {token}"}
        side, kind = options["side"], options["image"]

        def picture(height: int) -> bytes:  # distinct bytes per file, as different photos would be
            return huge_png(side, height) if kind == "png" else huge_jpeg(side, height)

        def upload(data: bytes, name: str) -> int:
            response = requests.post(
                f"{base}/api/images/", files={"file": (name, data)}, headers=headers, timeout=300
            )
            response.raise_for_status()
            return response.json()["id"]

        def status(image_id: int) -> str:
            return requests.get(f"{base}/api/images/{image_id}/", headers=headers, timeout=60).json()[
                "status"
            ]

        warm = upload(huge_jpeg(64, 48), "warm.jpg")
        deadline = time.monotonic() + 300
        while status(warm) != "indexed":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the ingest worker did not index: {stack.tail(worker)}")
            time.sleep(0.5)
        baseline = peak = tree_rss_mb(worker.process.pid)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, tree_rss_mb(worker.process.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        huge = [upload(picture(side - i), f"huge{i}.{kind}") for i in range(options["ingest"])]
        small = upload(huge_jpeg(320, 240), "small.jpg")
        uploaded = time.monotonic()
        while status(small) not in ("indexed", "failed") and time.monotonic() - uploaded < 600:
            time.sleep(0.25)
        small_wait = time.monotonic() - uploaded
        while any(status(i) == "pending" for i in huge) and time.monotonic() - uploaded < 600:
            time.sleep(0.5)
        stop.set()
        sampler.join()
        return {
            "ingest": f"{options['ingest']} x {side}x{side} {kind}, then a 320x240 jpeg",
            "uploads_s": round(uploaded - started, 1),
            "small_upload_indexed_after_s": round(small_wait, 1),
            "all_indexed_after_s": round(time.monotonic() - uploaded, 1),
            "huge_statuses": dict(Counter(status(i) for i in huge)),
            "ingest_worker_rss_mb": f"{baseline:.0f} -> peak {peak:.0f}",
        }

    def run_attack(self, stack: Stack, options) -> dict:
        token = self.prepare(stack)
        worker = stack.start_worker("query", concurrency=4)
        port = free_port()
        web = stack.start_web("127.0.0.1", port)
        base = f"http://127.0.0.1:{port}"
        signed_in = {"Authorization": f"Token {token}"}
        deadline = time.monotonic() + 180
        while requests.get(f"{base}/api/search/", params={"q": "warm"}, headers=signed_in).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not answer searches: {stack.tail(worker)}")
            time.sleep(1)

        side = options["side"]
        payload = huge_png(side, side) if options["image"] == "png" else huge_jpeg(side, side)
        name = f"attack.{options['image']}"
        baseline = {"worker": tree_rss_mb(worker.process.pid), "web": tree_rss_mb(web.process.pid)}
        peak = dict(baseline)
        peak_web_process = 0.0
        statuses: Counter = Counter()
        latencies: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_web_process
            while not stop.is_set():
                peak["worker"] = max(peak["worker"], tree_rss_mb(worker.process.pid))
                peak["web"] = max(peak["web"], tree_rss_mb(web.process.pid))
                for pid in web_worker_pids(web.process.pid):
                    peak_web_process = max(peak_web_process, tree_rss_mb(pid))
                time.sleep(0.05)

        def attacker() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    try:
                        response = session.post(
                            f"{base}/api/search/", files={"image": (name, payload)}, timeout=120
                        )
                        statuses[response.status_code] += 1
                    except requests.RequestException as exc:
                        statuses[type(exc).__name__] += 1

        def text_searcher() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    started = time.monotonic()
                    response = session.get(
                        f"{base}/api/search/", params={"q": "red bicycle"}, headers=signed_in, timeout=120
                    )
                    latencies.append(time.monotonic() - started if response.status_code == 200 else 120.0)
                    time.sleep(0.25)

        threads = [threading.Thread(target=sample), threading.Thread(target=text_searcher)]
        threads += [threading.Thread(target=attacker) for _ in range(options["clients"])]
        for thread in threads:
            thread.start()
        time.sleep(options["seconds"])
        stop.set()
        for thread in threads:
            thread.join(180)

        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else None
        return {
            "attack": f"{options['clients']} clients x {options['seconds']:g} s, {side}x{side} "
            f"{options['image']} ({len(payload) / 1e6:.2f} MB)",
            "answers": dict(sorted((str(k), v) for k, v in statuses.items())),
            "query_worker_rss_mb": f"{baseline['worker']:.0f} -> peak {peak['worker']:.0f}",
            "web_rss_mb (all processes)": f"{baseline['web']:.0f} -> peak {peak['web']:.0f}",
            "web_worker_peak_rss_mb": round(peak_web_process),
            "text_search_s p50 / p95": (
                f"{statistics.median(ordered):.2f} / {p95:.2f} ({len(ordered)} searches)"
                if ordered
                else "none"
            ),
        }
