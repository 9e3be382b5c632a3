"""Production settings: `check --deploy` is clean when served over https, the Host header is checked,
the API answers JSON only, and no response carries a secret."""

from __future__ import annotations

import os
import re
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from launcher.stack import free_port
from tests.factories import api_client, make_image, make_user

ROOT = Path(__file__).resolve().parents[2]
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
# What settings may read from the developer's shell and would change the outcome.
SHELL_VARIABLES = ("ALLOWED_HOSTS", "HOST", "HTTPS", "DEBUG", "SECURE_", "SESSION_COOKIE", "CSRF_COOKIE")


def deploy_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    # As a deployment starts: nothing of this test session's environment (its settings module,
    # DJANGO_ALLOW_ASYNC_UNSAFE, its services) leaks in.
    clean = {k: v for k, v in os.environ.items() if not k.startswith((*SHELL_VARIABLES, "DJANGO_"))}
    for name in ("REDIS_URL", "MILVUS_URI", "DATABASE_URL"):
        clean.pop(name, None)
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "DATA_DIR": str(tmp_path),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_for_an_https_deployment(tmp_path: Path) -> None:
    result = deploy_check(tmp_path, HTTPS="1", ALLOWED_HOSTS="images.example.com")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def documented_production_env(data_dir: Path) -> dict[str, str]:
    """The web service's environment as `docker compose up` builds it from the README's steps: copy
    .env.example to .env and replace its placeholders (the required lines it leaves uncommented)."""
    dotenv = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            dotenv[name.strip()] = secrets.token_urlsafe(50) if value.startswith("change-me") else value
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = {}
    for name, value in compose["services"]["web"]["environment"].items():
        # ${NAME}, ${NAME:-default} and ${NAME:?error}, as compose substitutes them.
        env[name] = re.sub(
            r"\$\{(\w+)(?::([-?])([^}]*))?\}",
            lambda m: dotenv.get(m[1]) or (m[3] if m[2] == "-" else ""),
            str(value),
        )
    env["DATA_DIR"] = str(data_dir)  # the container's volume, here a temporary folder
    return env


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path: Path) -> None:
    # Issue 19: what a person following the README deploys must pass Django's deployment check.
    env = documented_production_env(tmp_path)
    assert env["HTTPS"] == "1" and env["ALLOWED_HOSTS"] and env["DJANGO_SECRET_KEY"]
    result = deploy_check(tmp_path, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_behind_a_proxy(tmp_path: Path) -> None:
    result = deploy_check(tmp_path, HTTPS="1", TRUST_X_FORWARDED_PROTO="1", HOST="images.example.com")
    assert result.returncode == 0, result.stdout + result.stderr


def test_plain_http_defaults_are_what_check_deploy_names(tmp_path: Path) -> None:
    # `make run` serves plain http: no secure cookies, no redirect, no HSTS, and the check says so.
    result = deploy_check(tmp_path)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout
    assert "security.W020" not in result.stderr + result.stdout  # hosts are never empty


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    """webapp/settings.py evaluated afresh under `env` (it only reads the environment)."""
    for name in list(os.environ):
        if name.startswith(SHELL_VARIABLES):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "webapp" / "settings.py"))


@pytest.mark.parametrize(
    ("env", "hosts"),
    [
        ({}, ["localhost", "127.0.0.1", "[::1]"]),
        ({"HOST": "photos.lan"}, ["localhost", "127.0.0.1", "[::1]", "photos.lan"]),
        ({"HOST": "0.0.0.0"}, ["localhost", "127.0.0.1", "[::1]"]),
        ({"HOST": "0.0.0.0", "ALLOWED_HOSTS": "a.example, b.example"}, ["a.example", "b.example"]),
        ({"ALLOWED_HOSTS": "*"}, ["*"]),
    ],
)
def test_allowed_hosts_follow_the_configured_host(monkeypatch, env: dict, hosts: list[str]) -> None:
    assert settings_with(monkeypatch, **env)["ALLOWED_HOSTS"] == hosts


def test_https_switches_on_every_transport_protection(monkeypatch) -> None:
    plain = settings_with(monkeypatch)
    assert not (plain["SECURE_SSL_REDIRECT"] or plain["SESSION_COOKIE_SECURE"] or plain["CSRF_COOKIE_SECURE"])
    assert plain["SECURE_HSTS_SECONDS"] == 0 and plain["SECURE_PROXY_SSL_HEADER"] is None
    https = settings_with(monkeypatch, HTTPS="1", SECURE_SSL_REDIRECT="0", TRUST_X_FORWARDED_PROTO="yes")
    assert https["SESSION_COOKIE_SECURE"] and https["CSRF_COOKIE_SECURE"]
    assert https["SECURE_HSTS_SECONDS"] >= 31_536_000 and https["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert https["SECURE_SSL_REDIRECT"] is False  # each one can be set on its own
    assert https["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.django_db
def test_a_foreign_host_header_is_refused_not_copied_into_urls(client) -> None:
    make_image(make_user())
    assert client.get("/api/images/", HTTP_HOST="evil.example").status_code == 400
    response = client.get("/api/images/", HTTP_HOST="localhost")
    assert response.status_code == 200
    assert "evil.example" not in response.content.decode()


@pytest.mark.django_db
def test_the_api_in_a_browser_answers_json(client) -> None:
    make_image(make_user())
    response = client.get("/api/images/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["count"] == 1
    refused = client.get("/api/images/", HTTP_ACCEPT="text/html")
    assert refused.status_code == 406 and "error" in refused.json()


@pytest.mark.django_db
def test_api_errors_are_json_for_unknown_paths_and_oversized_bodies(client, settings) -> None:
    missing = client.get("/api/no-such-thing/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/json" and set(missing.json()) == {"error"}
    too_big = api_client(make_user()).post(
        "/api/images/",
        data=b"x" * 10,
        content_type="application/octet-stream",
        CONTENT_LENGTH=str(settings.MAX_UPLOAD_BYTES * settings.MAX_FILES_PER_UPLOAD * 2),
    )
    assert too_big.status_code == 413
    assert too_big["Content-Type"] == "application/json" and "error" in too_big.json()


@pytest.mark.django_db
def test_healthz_never_shows_the_redis_password(client, settings) -> None:
    password = secrets.token_urlsafe(16)
    settings.REDIS_URL = f"redis://:{password}@127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "redis://:***@127.0.0.1:" in response.json()["redis"]
    assert password not in response.content.decode()
    assert password not in str(response.headers)
