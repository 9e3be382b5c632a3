"""manage.py restore FILE: an archive from `backup` into an empty site; Milvus is rebuilt from it."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from webapp.backup import BackupError, restore


class Command(BaseCommand):
    help = "Restore a backup archive into an empty DATA_DIR / database, then rebuild the vector index."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="an archive written by manage.py backup")

    def handle(self, *args, **options) -> None:
        try:
            report = restore(options["file"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Restored {report.images} images and {report.files} files; "
            f"vectors restored from the database: {report.reconcile.restored}."
        )
