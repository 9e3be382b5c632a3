"""The deployment files stay complete: `.env.example` names every variable the app reads (no more,
no less), and every service in docker-compose.yml has a health check that the services depending on
it wait for (issue 19, deployment)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# The settings' env helpers (env_str("NAME", ...), possibly over two lines) and the launcher's
# reads (count_from(env, "NAME", ...), environ.get("NAME")).
READS = re.compile(r'(?:env_\w+\(|count_from\(env,|environ\.get\()\s*"([A-Z][A-Z0-9_]+)"')
# Read by docker compose itself, not the app.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"}


def variables_read() -> set[str]:
    sources = [ROOT / "webapp" / "settings.py", *sorted((ROOT / "launcher").glob("*.py"))]
    return {name for path in sources for name in READS.findall(path.read_text())}


def variables_listed() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"#?\s*([A-Z][A-Z0-9_]+)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_the_reads_are_found():
    # Guards the pattern itself: these are read in three different ways.
    assert {"DJANGO_SECRET_KEY", "ALLOWED_HOSTS", "QUERY_CONCURRENCY", "DATA_DIR"} <= variables_read()


def test_env_example_lists_every_variable_the_app_reads():
    read, listed = variables_read(), variables_listed()
    assert read - listed == set(), "missing from .env.example"
    assert listed - read - COMPOSE_ONLY == set(), "listed in .env.example but read nowhere"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_compose_service_has_a_health_check():
    services = compose()["services"]
    missing = [name for name, service in services.items() if "healthcheck" not in service]
    assert missing == []
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name


def test_services_wait_until_what_they_depend_on_is_healthy():
    for name, service in compose()["services"].items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition"
        for other, rule in depends.items():
            assert rule == {"condition": "service_healthy"}, (name, other)


def test_compose_runs_a_worker_for_every_queue():
    commands = " ".join(str(s.get("command", "")) for s in compose()["services"].values())
    for queue in ("ingest", "ocr", "query"):
        assert f"-Q {queue} " in commands
