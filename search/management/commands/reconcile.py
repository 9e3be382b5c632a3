from datetime import timedelta

from django.core.management.base import BaseCommand

from search.pipeline.reconcile import reconcile
from search.query import keywords


class Command(BaseCommand):
    help = (
        "Make Milvus match the database: restore missing vectors from stored embeddings, "
        "delete orphans, re-queue stale pending images."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            help="re-queue pending images untouched for this many seconds",
        )
        parser.add_argument(
            "--keywords",
            action="store_true",
            help="also rebuild the keyword index from the images (SQL triggers keep it in step; this "
            "repairs it after the table was edited or loaded by hand)",
        )

    def handle(self, *args, **opts):
        older = timedelta(seconds=opts["older_than"]) if opts["older_than"] is not None else None
        report = reconcile(older)
        self.stdout.write(
            f"Checked {report.collections} collection(s): restored {report.restored} vector(s), "
            f"deleted {report.orphans_deleted} orphan(s), re-queued {report.requeued} pending image(s); "
            f"PDQ hashes: restored {report.hashes_restored}, "
            f"deleted {report.hash_orphans_deleted} orphan(s); "
            f"PDQ variants: restored {report.variants_restored}, "
            f"deleted {report.variant_orphans_deleted} orphan(s); "
            f"OCR queued for {report.ocr_queued} image(s)."
        )
        if opts["keywords"]:
            self.stdout.write(f"Keyword index rebuilt: {keywords.rebuild()} image(s).")
