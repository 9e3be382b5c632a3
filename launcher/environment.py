"""The environment the Django project expects, prepared before it starts.

webapp/settings.py only reads environment variables. The file work behind their defaults lives here:
manage.py runs prepare() before Django starts, and `make run` runs it once and hands the result to
every child it starts, so gunicorn and the Celery workers read no files for their configuration.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"
# Everything under DATA_DIR is the owner's alone: the database holds password hashes and API tokens,
# originals may be private. Files are created 0600 and folders 0700 by whoever runs with this umask.
PRIVATE_UMASK = 0o077
SERVICES_FILE = "services.json"
# The addresses a live `make run` records for commands run beside it.
SERVICE_VARIABLES = ("REDIS_URL", "MILVUS_URI")


def data_dir(environ: MutableMapping[str, str]) -> Path:
    """DATA_DIR made absolute (relative to the working directory), or ./data in the repository."""
    value = environ.get("DATA_DIR", "").strip()
    return Path(value).resolve() if value else REPO_ROOT / "data"


def make_private_dir(directory: Path) -> None:
    """Create `directory` (0700), and take group and other access away from an existing one we own."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if directory.stat().st_uid == os.getuid() and directory.stat().st_mode & 0o077:
            directory.chmod(0o700)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode through O_TRUNC
        out.write(text)


def secret_key(directory: Path) -> str:
    """The random key kept in `directory`, created on first use so sessions survive restarts."""
    key_file = directory / SECRET_KEY_FILE
    if not key_file.exists():
        # Written whole to a private (0600) temporary file, then linked into place: a process starting
        # at the same moment sees either no key file or the complete one, and the first link wins.
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".secret_key-")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(50))
            with contextlib.suppress(FileExistsError):
                os.link(temporary, key_file)
        finally:
            os.unlink(temporary)
    key = key_file.read_text().strip()
    if not key:
        raise RuntimeError(f"{key_file} is empty: delete it to have a new key made, or set DJANGO_SECRET_KEY")
    return key


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


def live_run(directory: Path) -> dict[str, str] | None:
    """What a live `make run` on `directory` recorded ("pid" and the service addresses), else None."""
    try:
        info = json.loads((directory / SERVICES_FILE).read_text())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # pid 0 or below would signal a process group, not test one process.
    if pid <= 0 or not _alive(pid):
        return None
    return {"pid": str(pid)} | {
        name: info[name] for name in SERVICE_VARIABLES if isinstance(info.get(name), str) and info[name]
    }


def record_services(directory: Path, environ: MutableMapping[str, str]) -> Path:
    """Record this process and its service addresses for commands run beside it (see live_run)."""
    services_file = directory / SERVICES_FILE
    info = {"pid": os.getpid()} | {name: environ.get(name, "") for name in SERVICE_VARIABLES}
    write_private(services_file, json.dumps(info))  # REDIS_URL carries the embedded Redis's password
    return services_file


def forget_services(directory: Path) -> None:
    """Remove the record, if it is this process's own."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        services_file = directory / SERVICES_FILE
        if int(json.loads(services_file.read_text())["pid"]) == os.getpid():
            services_file.unlink()


def prepare(environ: MutableMapping[str, str] | None = None, *, join_running: bool = True) -> dict[str, str]:
    """Fill in what settings need from files: DATA_DIR (created), DJANGO_SECRET_KEY and, with
    `join_running`, the REDIS_URL and MILVUS_URI of a live `make run` on the same DATA_DIR.

    Variables already set win. Changes `environ` (os.environ by default) in place and returns a copy.
    Also sets this process's umask to PRIVATE_UMASK: what it and its children create in DATA_DIR
    (database, media, logs, Milvus and Redis files) is readable by its owner only.
    """
    os.umask(PRIVATE_UMASK)
    env = os.environ if environ is None else environ
    directory = data_dir(env)
    make_private_dir(directory)
    env["DATA_DIR"] = str(directory)
    if not env.get("DJANGO_SECRET_KEY", "").strip():
        env["DJANGO_SECRET_KEY"] = secret_key(directory)
    if join_running:
        running = live_run(directory) or {}
        for name in SERVICE_VARIABLES:
            if not env.get(name, "").strip() and running.get(name):
                env[name] = running[name]
    return dict(env)
