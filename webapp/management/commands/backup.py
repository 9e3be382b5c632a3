"""manage.py backup FILE: the database and the media in one .tar.gz (Milvus is rebuilt on restore)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from webapp.backup import BackupError, backup


class Command(BaseCommand):
    help = "Write the database and the media files to a new .tar.gz archive."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="the archive to write (must not exist)")

    def handle(self, *args, **options) -> None:
        try:
            manifest = backup(options["file"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Wrote {options['file']}: {manifest['images']} images.")
