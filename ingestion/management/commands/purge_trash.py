"""`manage.py purge_trash`: delete for good the images in the trash for longer than TRASH_DAYS
(beat runs the same hourly; this is for deployments without beat, or to run it now)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from ingestion import trash


class Command(BaseCommand):
    help = "Delete for good the images that have been in the trash for TRASH_DAYS days."

    def handle(self, *args, **options) -> None:
        deleted = trash.purge_expired()
        days = settings.TRASH_DAYS
        self.stdout.write(f"Deleted {deleted} image(s) in the trash for more than {days} days.")
