"""Backup and restore: the database (the source of truth) and the media files in one .tar.gz. Milvus
is not in it: `reconcile` rebuilds every collection from the stored embeddings and hashes, and the
ban bank is published again, so a restore needs no re-encoding.

The database travels as Django fixtures (`dumpdata`), so a backup taken on SQLite restores into
PostgreSQL and back. A restore goes into an empty, migrated database only: it never merges into a
live site."""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from ingestion.models import Image
from moderation.bans import publish_entries
from moderation.models import BanEntry
from search.pipeline.reconcile import ReconcileReport, reconcile

FORMAT = 1
DATABASE = "database.json"
MANIFEST = "manifest.json"
MEDIA = "media"
# Rebuilt or recreated by `migrate`, or not worth keeping (sessions, sign-in failures).
EXCLUDED = ["contenttypes", "auth.permission", "sessions", "admin.logentry", "axes"]


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why."""


@dataclass(frozen=True)
class RestoreReport:
    images: int
    files: int
    reconcile: ReconcileReport


def backup(destination: Path) -> dict:
    """Write the archive to `destination` (made whole beside it, then renamed: a crash never leaves
    half an archive under the real name). Returns its manifest."""
    destination = Path(destination)
    if destination.exists():
        raise BackupError(f"{destination} exists; choose a new file name.")
    media = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory(dir=destination.parent) as work:
        fixture = Path(work) / DATABASE
        # The base managers: the trash travels too (Image.objects leaves it out).
        call_command(
            "dumpdata",
            exclude=EXCLUDED,
            natural_foreign=True,
            use_base_manager=True,
            output=str(fixture),
            verbosity=0,
        )
        manifest = {
            "format": FORMAT,
            "created_at": timezone.now().isoformat(),
            "images": Image.all_objects.count(),
            "database_engine": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
            "clip_model": settings.CLIP_MODEL,
        }
        (Path(work) / MANIFEST).write_text(json.dumps(manifest, indent=2))
        partial = Path(work) / "backup.tar.gz"
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(Path(work) / MANIFEST, arcname=MANIFEST)
            archive.add(fixture, arcname=DATABASE)
            if media.is_dir():
                archive.add(media, arcname=MEDIA)
        partial.replace(destination)
    return manifest


def _safe_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Only plain files and folders inside the archive's own tree: an archive is input too."""
    members = []
    for member in archive.getmembers():
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts:
            raise BackupError(f"The archive names a path outside itself: {member.name!r}.")
        if not (member.isfile() or member.isdir()):
            raise BackupError(f"The archive holds something that is not a file: {member.name!r}.")
        members.append(member)
    return members


def restore(source: Path) -> RestoreReport:
    """Restore an archive made by `backup` into this (empty) site, then rebuild the vector index."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} is not a file.")
    call_command("migrate", interactive=False, verbosity=0)
    if Image.all_objects.exists() or _has_users():
        raise BackupError("This site already has users or images: restore into an empty DATA_DIR.")
    media = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory() as work, tarfile.open(source, "r:gz") as archive:
        members = _safe_members(archive)
        names = {m.name for m in members}
        if MANIFEST not in names or DATABASE not in names:
            raise BackupError("Not a backup made by `manage.py backup` (no manifest or database).")
        archive.extractall(work, members=members, filter="data")
        manifest = json.loads((Path(work) / MANIFEST).read_text())
        if manifest.get("format") != FORMAT:
            raise BackupError(f"Backup format {manifest.get('format')!r} is not one this version reads.")
        files = 0
        if (Path(work) / MEDIA).is_dir():
            for path in (Path(work) / MEDIA).rglob("*"):
                if path.is_file():
                    target = media / path.relative_to(Path(work) / MEDIA)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
                    files += 1
        with transaction.atomic():
            call_command("loaddata", str(Path(work) / DATABASE), verbosity=0)
    entries = BanEntry.objects.prefetch_related("hashes").order_by("pk")
    for start in range(0, entries.count(), 1000):
        publish_entries(list(entries[start : start + 1000]))
    return RestoreReport(Image.objects.count(), files, reconcile())


def _has_users() -> bool:
    return get_user_model().objects.exists()
