"""`make bench`: the benchmark report of issue 16, written to docs/benchmarks.json and .md.

Phases, each in a child process with a throw-away DATA_DIR (no data of a live installation is
touched, and every figure is taken in the process shape it describes):

1. encoder vs pipeline with the ViT-B/32 architecture (random weights, built offline once):
   the forward pass alone against the ingest worker's code, alternately (`bench.pipeline`);
2. `make run` stacks (`python -m launcher.run`, demo model): the default one, and one per
   TORCH_NUM_THREADS of the sweep. Uploads through gunicorn until indexed, alternating with the
   in-process pipeline; HTTP searches alternating with their bare cost; searches while indexing;
   the OCR lag; peak memory of every process (`bench.live`, `bench.stacks`);
3. the parts alone: validation, preparation, encoder, Milvus (recall@10), OCR, the in-process
   hybrid search, the duplicate rescan at 10,000 images (`bench.components`).

Internal phases (`--phase pipeline|live|components|user`) are how the parent runs its children.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from bench import stacks as bench_stacks
from bench.stacks import child_env, last_json, manage

DOCS = bench_stacks.ROOT / "docs"
VIT_B32 = "vit-b32"
TARGETS = {
    "live_vs_pipeline_ratio": (">=", 0.7),
    "ingest_vs_encoder_ratio": (">=", 0.85),
    "query_p50_vs_bare_ratio": ("<=", 1.3),
    "query_p95_under_ingest_vs_idle_ratio": ("<=", 2.0),
}


class Command(BaseCommand):
    help = "Write docs/benchmarks.json and docs/benchmarks.md: ingest and search speed, with ratios."

    def add_arguments(self, parser):
        parser.add_argument("--rounds", type=int, default=3, help="alternations of each compared pair")
        parser.add_argument("--burst", type=int, default=32, help="uploads per live round")
        parser.add_argument("--corpus", type=int, default=10000, help="images searched over HTTP")
        parser.add_argument("--queries", type=int, default=60, help="idle search / bare pairs per round")
        parser.add_argument("--threads", default="1,2", help="TORCH_NUM_THREADS settings to sweep")
        parser.add_argument(
            "--encoder-model",
            default=VIT_B32,
            help=f"model of the encoder-bound ratio: '{VIT_B32}' (built offline) or a CLIP_MODEL value",
        )
        parser.add_argument("--pipeline-images", type=int, default=96, help="images per encoder round")
        parser.add_argument("--images", type=int, default=128, help="images for the encoder alone (parts)")
        parser.add_argument("--vectors", type=int, default=20000, help="vectors for recall@10 (parts)")
        parser.add_argument("--ocr-images", type=int, default=8)
        parser.add_argument("--hybrid-images", type=int, default=10000, help="in-process hybrid search")
        parser.add_argument("--duplicates", type=int, default=10000, help="duplicate rescan size (0: skip)")
        parser.add_argument("--out", default=str(DOCS), help="folder for benchmarks.json and .md")
        parser.add_argument(
            "--build-vit-b32",
            action="store_true",
            help="build the random-weight ViT-B/32 folder (if missing) and print its path, for CLIP_MODEL",
        )
        # Internal: how the parent runs its children.
        parser.add_argument(
            "--phase", default="all", choices=["all", "pipeline", "live", "components", "user"]
        )
        parser.add_argument("--stacks", default="", help="(internal) stacks JSON file")
        parser.add_argument("--root", default="", help="(internal) the run's folder")
        parser.add_argument("--no-encoder-bound", action="store_true", help="(internal)")
        parser.add_argument("--seed", type=int, default=0, help="(internal)")
        parser.add_argument("--username", default="", help="(internal)")
        parser.add_argument("--password", default="", help="(internal)")

    def handle(self, *args, **opts):
        if opts["build_vit_b32"]:
            self.stdout.write(str(vit_b32_folder()))
            return
        phase = opts["phase"]
        if phase == "user":
            get_user_model().objects.create_user(opts["username"], password=opts["password"])
            return
        if phase == "pipeline":
            from bench import pipeline as bench_pipeline

            result = bench_pipeline.run(
                opts["rounds"], opts["pipeline_images"], opts["seed"], not opts["no_encoder_bound"]
            )
            self.stdout.write("\n" + json.dumps(result | {"peak_rss_mb": own_peak_rss_mb()}))
            return
        if phase == "components":
            from bench import components as bench_components

            self.stdout.write(
                "\n" + json.dumps(bench_components.run(opts) | {"peak_rss_mb": own_peak_rss_mb()})
            )
            return
        if phase == "live":
            from bench import live as bench_live

            stacks = json.loads(Path(opts["stacks"]).read_text())
            root = Path(opts["root"])

            def pipeline_round(r: int) -> dict:
                env = child_env(root / f"pipeline-demo-{r}", CLIP_MODEL="demo")
                return last_json(
                    manage(
                        env,
                        "bench",
                        "--phase=pipeline",
                        "--rounds=1",
                        f"--pipeline-images={opts['burst']}",
                        f"--seed={r + 1}",
                        "--no-encoder-bound",
                    )
                )

            result = bench_live.run(stacks, opts, pipeline_round)
            self.stdout.write("\n" + json.dumps(result | {"peak_rss_mb": own_peak_rss_mb()}))
            return
        self.stdout.write(json.dumps(self.run_all(opts), indent=2))

    # ------------------------------------------------------------------ the whole report

    def run_all(self, opts: dict) -> dict:
        started = time.monotonic()
        root = Path(tempfile.mkdtemp(prefix="imagesearch-bench-"))
        report: dict = {
            "machine": machine(),
            "commit": commit(),
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": "make bench",
            "settings": {"rounds": opts["rounds"], "burst": opts["burst"], "corpus": opts["corpus"]},
        }
        try:
            report.update(self.encoder_phase(opts, root))
            report.update(self.live_phase(opts, root))
            self.say("parts alone (validation, Milvus recall, OCR, hybrid, duplicate rescan) ...")
            parts = last_json(
                manage(
                    child_env(root / "components", CLIP_MODEL="demo"),
                    "bench",
                    "--phase=components",
                    f"--images={opts['images']}",
                    f"--vectors={opts['vectors']}",
                    f"--ocr-images={opts['ocr_images']}",
                    f"--hybrid-images={opts['hybrid_images']}",
                    f"--duplicates={opts['duplicates']}",
                    "--queries=100",
                )
            )
            report["ann_recall_at_10"] = parts.pop("ann_recall_at_10")
            report["duplicate_scan_s"] = parts.pop("duplicate_scan_s", None)
            report["peak_rss_mb"]["bench: parts alone"] = parts.pop("peak_rss_mb")
            report["parts"] = parts
        finally:
            shutil.rmtree(root, ignore_errors=True)
        report["models"] = {
            "ingest_vs_encoder_ratio, encoder_images_per_s": report["encoder_model"],
            "live_vs_pipeline_ratio, live and pipeline images/s, ocr_lag_s, thread sweep": "demo",
            "query_p50_vs_bare_ratio, query_p95_under_ingest_vs_idle_ratio, text_search_ms": "demo",
            "ann_recall_at_10, parts": "demo",
        }
        report["bench_s"] = round(time.monotonic() - started, 1)
        report["targets"] = {
            key: {
                "target": f"{op} {bound}",
                "measured": report.get(key),
                "met": met(report.get(key), op, bound),
            }
            for key, (op, bound) in TARGETS.items()
        }
        out = Path(opts["out"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "benchmarks.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        (out / "benchmarks.md").write_text(markdown(report))
        self.say(f"wrote {out / 'benchmarks.json'} and {out / 'benchmarks.md'} in {report['bench_s']} s")
        return report

    def say(self, message: str) -> None:
        self.stderr.write(f"[bench] {message}")

    def encoder_phase(self, opts: dict, root: Path) -> dict:
        model = opts["encoder_model"]
        if model == VIT_B32:
            model = str(vit_b32_folder())
        self.say(f"encoder alone vs ingest pipeline, {opts['encoder_model']} ...")
        result = last_json(
            manage(
                child_env(root / "pipeline-encoder", CLIP_MODEL=model),
                "bench",
                "--phase=pipeline",
                f"--rounds={opts['rounds']}",
                f"--pipeline-images={opts['pipeline_images']}",
            )
        )
        return {
            "encoder_model": (
                "ViT-B/32 architecture, random weights (CLIPConfig() defaults)"
                if opts["encoder_model"] == VIT_B32
                else result["model"]
            ),
            "encoder_images_per_s": result["encoder_images_per_s"],
            "encoder_pipeline_images_per_s": result["pipeline_images_per_s"],
            "ingest_vs_encoder_ratio": result["ratio"],
            "encoder_torch_threads": result["torch_threads"],
            "encoder_images_per_round": result["images_per_round"],
            "encoder_rounds": {"encoder": result["encoder_rounds"], "pipeline": result["pipeline_rounds"]},
            "peak_rss_mb": {"bench: encoder vs pipeline": result["peak_rss_mb"]},
        }

    def live_phase(self, opts: dict, root: Path) -> dict:
        settings_to_sweep = [None, *[int(t) for t in opts["threads"].split(",") if t.strip()]]
        stacks = []
        try:
            for threads in settings_to_sweep:
                name = "default" if threads is None else f"threads-{threads}"
                self.say(f"starting make run ({name}) ...")
                stacks.append(bench_stacks.start(name, root, threads))
            for stack in stacks:  # started together, waited for in turn
                bench_stacks.wait_ready(stack)
            stacks_file = root / "stacks.json"
            stacks_file.write_text(json.dumps([s.describe() for s in stacks]))
            default = stacks[0]
            env = dict(default.env, **{k: v for k, v in default.services().items() if k != "pid"})
            self.say(f"live rounds: {opts['rounds']} x {len(stacks)} bursts of {opts['burst']} uploads ...")
            live = last_json(
                manage(
                    env,
                    "bench",
                    "--phase=live",
                    f"--stacks={stacks_file}",
                    f"--root={root}",
                    f"--rounds={opts['rounds']}",
                    f"--burst={opts['burst']}",
                    f"--corpus={opts['corpus']}",
                    f"--queries={opts['queries']}",
                    timeout=1800,
                )
            )
            rss = {f"make run ({s.name})": bench_stacks.peak_rss(s.process.pid) for s in stacks[:1]}
            rss["bench: live client"] = live.pop("peak_rss_mb")
        finally:
            for stack in stacks:
                bench_stacks.stop(stack)
        threads = live.pop("threads")
        best_encode = min(t["text_encode_under_ingest_p50_ms"] for t in threads.values())
        best_live = max(t["live_images_per_s"] for t in threads.values())
        default_threads = threads["default"]
        live["thread_sweep"] = {
            "settings": threads,
            "default_text_encode_vs_best": default_threads["text_encode_under_ingest_p50_ms"] / best_encode,
            "default_live_rate_vs_best": best_live / default_threads["live_images_per_s"],
            "default_within_1_2x_of_best": {
                "text_encode_p50": default_threads["text_encode_under_ingest_p50_ms"] <= 1.2 * best_encode,
                "live_images_per_s": default_threads["live_images_per_s"] * 1.2 >= best_live,
            },
        }
        live["live_model"] = "demo"
        live["peak_rss_mb"] = rss
        return live


def met(value, op: str, bound: float) -> bool | None:
    if value is None:
        return None
    return value >= bound if op == ">=" else value <= bound


def own_peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def vit_b32_folder() -> Path:
    """The random-weight ViT-B/32 (`CLIPConfig()` defaults) under MODEL_CACHE_DIR, built once."""
    from search.engines.encoder.benchmodel import ensure_vit_b32_model

    return ensure_vit_b32_model(Path(settings.MODEL_CACHE_DIR))


def machine() -> dict:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=bench_stacks.ROOT
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=bench_stacks.ROOT,
        )
        return done.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except OSError:
        return ""


def _threads(resolved: dict) -> str:
    return ", ".join(f"{name}={value}" for name, value in resolved.items())


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "n/a" if value is None else str(value)


def markdown(r: dict) -> str:
    """The report for people: what was measured, on what, with which model, and against which target."""
    t = r["text_search_ms"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{r['command']}` (`manage.py bench`) on {r['date']}, commit {r['commit']}. "
        f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, {r['machine']['system']}, "
        f"Python {r['machine']['python']}. The whole run took {r['bench_s']:.0f} s.",
        "",
        "Compared figures were measured alternately, "
        f"{r['settings']['rounds']} rounds, and are medians: this machine is shared and its speed "
        "swings several times over within minutes, so only the ratios are comparable between runs.",
        "",
        "## Targets (issue 16)",
        "",
        "| figure | model | measured | target | met |",
        "|---|---|---:|---:|:---:|",
    ]
    models = {
        "live_vs_pipeline_ratio": "demo",
        "ingest_vs_encoder_ratio": r.get("encoder_model", ""),
        "query_p50_vs_bare_ratio": "demo",
        "query_p95_under_ingest_vs_idle_ratio": "demo",
    }
    for key, target in r["targets"].items():
        mark = {True: "yes", False: "**no**", None: "n/a"}[target["met"]]
        lines.append(
            f"| `{key}` | {models[key]} | {_fmt(target['measured'])} | {target['target']} | {mark} |"
        )
    sweep = r["thread_sweep"]
    lines += [
        "",
        "## Ingest",
        "",
        "| figure | model | value |",
        "|---|---|---:|",
        f"| `encoder_images_per_s` (forward pass alone) | {r['encoder_model']} | "
        f"{_fmt(r['encoder_images_per_s'])} |",
        f"| ingest pipeline, same process ({r['encoder_images_per_round']} images a round, "
        f"TORCH_NUM_THREADS={r['encoder_torch_threads']} for both), images/s | {r['encoder_model']} | "
        f"{_fmt(r['encoder_pipeline_images_per_s'])} |",
        f"| `pipeline_images_per_s` (ingest worker's code in-process) | demo | "
        f"{_fmt(r['pipeline_images_per_s'])} |",
        f"| `live_images_per_s` (make run: HTTP uploads, one image per request, until indexed) | demo | "
        f"{_fmt(r['live_images_per_s'])} |",
        f"| burst of {r['burst_images']} uploads indexed in, s | demo | {_fmt(r['burst_indexing_s'])} |",
        f"| `ocr_lag_s` p95 (indexed -> words read), live bursts | demo | {_fmt(r['ocr_lag_s'])} |",
        f"| OCR lag p95 / burst indexing time (keep < 3) | demo | {_fmt(r['ocr_lag_p95_vs_burst_ratio'])} |",
        f"| `duplicate_scan_s` (moderation rescan, {r['parts'].get('duplicate_scan_images', 0):,} images) "
        "| - | "
        f"{_fmt(r['duplicate_scan_s'])} |",
        "",
        "## Search (demo model)",
        "",
        f"HTTP: `GET /api/search/?q=<1-2 words>&limit=50` (hybrid) through gunicorn with an API token, over "
        f"{r['corpus_images']:,} images. Bare: the same words encoded by the query worker (the same "
        "Celery round trip the web server makes) plus the Milvus search the page needs (same filter, "
        "same number of candidates).",
        "",
        "| figure | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| `text_search_ms` (idle) | {t['p50']} | {t['p95']} | {t['p99']} |",
        f"| `bare_query_ms` | {r['bare_query_ms']['p50']} | {r['bare_query_ms']['p95']} | "
        f"{r['bare_query_ms']['p99']} |",
        f"| text search while a burst is indexed | {r['text_search_under_ingest_ms']['p50']} | "
        f"{r['text_search_under_ingest_ms']['p95']} | {r['text_search_under_ingest_ms']['p99']} |",
        "",
        f"`ann_recall_at_10` (HNSW against exact search, demo-model vectors): {_fmt(r['ann_recall_at_10'])}",
        "",
        "## Thread settings (TORCH_NUM_THREADS and QUERY_TORCH_THREADS, demo model, one `make run` each)",
        "",
        "Text encoding by each stack's query worker (p50; during every burst, whichever stack indexes it, "
        "the stacks are asked in turn, so all settings meet the same load) and each stack's live indexing "
        f"rate. The defaults resolved to {_threads(r['default_threads'])} on this machine.",
        "",
        "| setting | text encode p50 ms | live images/s |",
        "|---|---:|---:|",
    ]
    for name, s in sweep["settings"].items():
        lines.append(
            f"| {name} | {_fmt(s['text_encode_under_ingest_p50_ms'])} | {_fmt(s['live_images_per_s'])} |"
        )
    within = sweep["default_within_1_2x_of_best"]
    lines += [
        "",
        f"Default within 1.2x of the best: text encode {'yes' if within['text_encode_p50'] else '**no**'} "
        f"({sweep['default_text_encode_vs_best']:.2f}x), live rate "
        f"{'yes' if within['live_images_per_s'] else '**no**'} ({sweep['default_live_rate_vs_best']:.2f}x).",
        "",
        "## Peak memory (RSS, MB)",
        "",
        "| process | MB |",
        "|---|---:|",
    ]
    for group, value in r["peak_rss_mb"].items():
        if isinstance(value, list):
            lines += [f"| {group}: {p['process']} (pid {p['pid']}) | {p['peak_rss_mb']} |" for p in value]
        else:
            lines.append(f"| {group} | {value} |")
    lines += ["", "## Parts alone (demo model unless named)", "", "| figure | value |", "|---|---:|"]
    lines += [f"| `{k}` | {_fmt(v)} |" for k, v in r["parts"].items()]
    return "\n".join(lines) + "\n"
