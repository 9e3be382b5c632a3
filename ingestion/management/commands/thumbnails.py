"""Make the responsive sizes (ingestion/renditions.py) that images indexed before they existed lack.

Until then those images still display: the media view answers a missing size with the thumbnail.
Each original is decoded once, bounded as the worker decodes it (ingestion.processing), one at a
time; identical uploads share their files, so each content is done once."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ingestion.models import Image
from ingestion.processing import decode_keeping_alpha, make_renditions
from ingestion.storage import missing_renditions, read_file, store_renditions


def fill_missing(limit: int | None = None, log=lambda line: None) -> dict[str, int]:
    """Sizes for every content with a thumbnail but not all its sizes (at most `limit` contents)."""
    counts = {"checked": 0, "made": 0, "failed": 0}
    rows = (
        Image.objects.exclude(thumbnail="")
        .order_by("sha256", "pk")
        .distinct()
        .values_list("sha256", "original")
    )
    seen: set[str] = set()
    for sha256, original in rows.iterator():
        if sha256 in seen:
            continue
        seen.add(sha256)
        counts["checked"] += 1
        if not missing_renditions(sha256):
            continue
        if limit is not None and counts["made"] + counts["failed"] >= limit:
            break
        try:
            renditions = make_renditions(decode_keeping_alpha(read_file(original)))
        except Exception as exc:  # one unreadable original must not stop the rest
            counts["failed"] += 1
            log(f"{sha256[:12]}: {exc}")
            continue
        store_renditions(renditions, sha256)
        counts["made"] += 1
    return counts


class Command(BaseCommand):
    help = "Make the grid and preview sizes that images indexed before they existed are missing."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="at most this many images")

    def handle(self, *args, limit=None, **options):
        counts = fill_missing(limit, log=lambda line: self.stderr.write(line))
        self.stdout.write(
            f"Checked {counts['checked']} stored thumbnail(s): made the missing sizes of "
            f"{counts['made']}, {counts['failed']} could not be read."
        )
