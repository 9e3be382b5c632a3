from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from ingestion.models import Image
from search import indexing
from search.encoder import get_encoder
from search.queueing import enqueue_indexing
from search.text_reading import read_images


class Command(BaseCommand):
    help = "Re-encode every image with the configured model (e.g. after changing CLIP_MODEL)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--inline",
            action="store_true",
            help="encode in this process instead of queueing for the ingest worker",
        )
        parser.add_argument("--batch-size", type=int, default=settings.INGEST_BATCH_SIZE)
        parser.add_argument("--no-ocr", dest="ocr", action="store_false", help="with --inline: skip OCR")
        parser.add_argument("--only-pending", action="store_true", help="only pending and failed images")

    def handle(self, *args, **opts):
        images = Image.objects.order_by("pk")
        if opts["only_pending"]:
            images = images.exclude(status=Image.Status.INDEXED)
        ids = list(images.values_list("pk", flat=True))
        size = opts["batch_size"]
        batches = [ids[i : i + size] for i in range(0, len(ids), size)]
        if not opts["inline"]:
            queued = sum(len(b) for b in batches if enqueue_indexing(b, force=True))
            self.stdout.write(
                f"Queued {queued} of {len(ids)} image(s) for re-indexing (OCR follows each batch)."
            )
            return
        encoder = get_encoder()
        indexed = failed = 0
        for batch in tqdm(batches, desc=f"Re-indexing with {encoder.model_id}", unit="batch"):
            report = indexing.index_images(batch, force=True, encoder=encoder)
            indexed += len(report.indexed)
            if opts["ocr"]:
                read_images(report.indexed, force=True)
            failed += len(report.failed)
        self.stdout.write(f"Re-indexed {indexed} image(s); {failed} failed.")
