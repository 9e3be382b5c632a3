"""Settings read the environment only, through helpers that refuse a bad value by its name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from webapp.settings import env_bool, env_float, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("value", "expected"), [("", "dflt"), ("  ", "dflt"), (" x ", "x"), (None, "dflt")])
def test_env_str(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str) -> None:
    if value is None:
        monkeypatch.delenv("IS_TEST_VAR", raising=False)
    else:
        monkeypatch.setenv("IS_TEST_VAR", value)
    assert env_str("IS_TEST_VAR", "dflt") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("False", False),
        ("no", False),
    ],
)
def test_env_bool(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("IS_TEST_VAR", value)
    assert env_bool("IS_TEST_VAR", not expected) is expected


def test_missing_or_empty_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IS_TEST_VAR", raising=False)
    assert env_bool("IS_TEST_VAR", True) is True
    assert env_int("IS_TEST_VAR", 7, minimum=10) == 7  # the default is not checked against the minimum
    assert env_float("IS_TEST_VAR", 0.5) == 0.5
    assert env_list("IS_TEST_VAR", ["*"]) == ["*"]
    monkeypatch.setenv("IS_TEST_VAR", "")
    assert env_bool("IS_TEST_VAR") is False
    assert env_int("IS_TEST_VAR", 7) == 7
    assert env_float("IS_TEST_VAR", 0.5) == 0.5
    assert env_list("IS_TEST_VAR", []) == []


def test_good_numbers_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IS_TEST_VAR", " 42 ")
    assert env_int("IS_TEST_VAR", 0, minimum=42) == 42
    assert env_float("IS_TEST_VAR", 0.0) == 42.0
    monkeypatch.setenv("IS_TEST_VAR", "0.25")
    assert env_float("IS_TEST_VAR", 0.0, minimum=0.1) == 0.25
    monkeypatch.setenv("IS_TEST_VAR", " a.example, ,b.example ,")
    assert env_list("IS_TEST_VAR", ["*"]) == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("read", "value", "message"),
    [
        (lambda: env_int("PORT", 8000), "abc", "PORT must be a whole number, got 'abc'"),
        (lambda: env_int("PORT", 8000), "80.5", "PORT must be a whole number, got '80.5'"),
        (lambda: env_int("PORT", 8000, minimum=1), "0", "PORT must be at least 1, got 0"),
        (
            lambda: env_int("MODERATION_PDQ_DISTANCE", 31, maximum=255),
            "256",
            "MODERATION_PDQ_DISTANCE must be at most 255, got 256",
        ),
        (
            lambda: env_bool("DEBUG"),
            "maybe",
            "DEBUG must be one of 1/0, true/false, yes/no, on/off, got 'maybe'",
        ),
        (lambda: env_float("QUERY_TIMEOUT", 10.0), "soon", "QUERY_TIMEOUT must be a number, got 'soon'"),
        (lambda: env_float("QUERY_TIMEOUT", 10.0), "nan", "QUERY_TIMEOUT must be a number, got 'nan'"),
        (lambda: env_float("QUERY_TIMEOUT", 10.0), "inf", "QUERY_TIMEOUT must be a number, got 'inf'"),
        (
            lambda: env_float("QUERY_TIMEOUT", 10.0, minimum=0.1),
            "0",
            "QUERY_TIMEOUT must be at least 0.1, got 0",
        ),
    ],
)
def test_a_bad_value_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, read, value: str, message: str
) -> None:
    name = message.split()[0]
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured) as caught:
        read()
    assert str(caught.value) == message


def import_settings(**env: str) -> subprocess.CompletedProcess:
    """Import webapp.settings in a fresh interpreter with only `env` (and PATH) set."""
    return subprocess.run(
        [sys.executable, "-c", "import webapp.settings as s; print(s.SECRET_KEY, s.DATA_DIR)"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = import_settings(DATA_DIR=str(tmp_path / "data"))
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in result.stderr
    assert "manage.py" in result.stderr and "make run" in result.stderr
    assert not (tmp_path / "data").exists()  # importing settings creates nothing


def test_settings_touch_no_files(tmp_path: Path) -> None:
    result = import_settings(DATA_DIR=str(tmp_path / "data"), DJANGO_SECRET_KEY="k")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["k", str(tmp_path / "data")]
    assert not (tmp_path / "data").exists()


def test_settings_name_a_bad_variable(tmp_path: Path) -> None:
    result = import_settings(DATA_DIR=str(tmp_path), DJANGO_SECRET_KEY="k", PORT="abc")
    assert result.returncode != 0
    assert "ImproperlyConfigured: PORT must be a whole number, got 'abc'" in result.stderr
