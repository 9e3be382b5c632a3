from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import BadInput
from ingestion.models import Image
from search.engines.encoder import ModelUnavailable, get_encoder
from search.pipeline import indexing, switching
from search.pipeline.queueing import enqueue_indexing
from search.pipeline.text_reading import read_images


class Command(BaseCommand):
    help = (
        "Re-encode every image with the active model, or with --model X switch to another model "
        "without downtime: X's collection is built in the background, searches keep the active "
        "model until X covers every indexed image, then switch at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--inline",
            action="store_true",
            help="encode in this process instead of queueing for the ingest worker",
        )
        parser.add_argument("--batch-size", type=int, default=settings.INGEST_BATCH_SIZE)
        parser.add_argument("--no-ocr", dest="ocr", action="store_false", help="with --inline: skip OCR")
        parser.add_argument("--only-pending", action="store_true", help="only pending and failed images")
        switch = parser.add_mutually_exclusive_group()
        switch.add_argument(
            "--model",
            metavar="MODEL",
            help="switch to MODEL (a Hugging Face id, a folder, demo, demo-64): build its collection "
            "in the background (with --inline: here, to the end), then make it the active model",
        )
        switch.add_argument("--status", action="store_true", help="show the model switch's progress")
        switch.add_argument("--cancel", action="store_true", help="stop the switch; drop its vectors")
        switch.add_argument(
            "--drop-old",
            action="store_true",
            help="after a switch: delete the previous model's vectors and its Milvus collection",
        )

    def handle(self, *args, **opts):
        try:
            if opts["model"]:
                return self.switch(opts["model"], inline=opts["inline"], size=opts["batch_size"])
            if opts["status"]:
                return self.report(switching.progress())
            if opts["cancel"]:
                return self.stdout.write(
                    f"Cancelled the switch to {switching.cancel()}; its vectors are deleted."
                )
            if opts["drop_old"]:
                return self.stdout.write(f"Dropped {switching.drop_previous()}: its vectors and collection.")
        except BadInput as exc:
            raise CommandError(str(exc)) from exc
        self.reindex(opts)

    def report(self, progress: switching.Progress) -> None:
        self.stdout.write(f"Active model: {progress.active}")
        if progress.target:
            self.stdout.write(
                f"Switching to {progress.target}: {progress.done} of {progress.total} indexed image(s) "
                f"encoded ({progress.percent:g}%)."
            )
            if progress.error:
                self.stdout.write(f"Stuck: {progress.error}")
        if progress.previous:
            self.stdout.write(f"Previous model {progress.previous} kept (drop it with --drop-old).")

    def switch(self, model_id: str, *, inline: bool, size: int) -> None:
        progress = switching.start(model_id)
        if not inline:
            self.report(progress)
            self.stdout.write("Building in the background (ingest worker); follow it with --status.")
            return
        try:
            encoder = get_encoder(progress.target)
        except ModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        with tqdm(total=progress.total, initial=progress.done, desc=f"Encoding with {model_id}") as bar:
            while True:
                report = switching.build(model_id, encoder=encoder, max_batches=1, batch_size=size)
                bar.update(report.encoded + report.failed)
                if report.stale:
                    raise CommandError("Another process is building this model now; follow it with --status.")
                if report.switched or not report.remaining:
                    break
        self.report(switching.progress())

    def reindex(self, opts) -> None:
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
        encoder = get_encoder(switching.active_model_id())
        indexed = failed = 0
        for batch in tqdm(batches, desc=f"Re-indexing with {encoder.model_id}", unit="batch"):
            report = indexing.index_images(batch, force=True, encoder=encoder)
            indexed += len(report.indexed)
            if opts["ocr"]:
                read_images(report.indexed, force=True)
            failed += len(report.failed)
        self.stdout.write(f"Re-indexed {indexed} image(s); {failed} failed.")
