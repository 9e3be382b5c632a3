import warnings

from django.apps import AppConfig
from django.conf import settings
from PIL import Image as PILImage
from pillow_heif import register_heif_opener


class IngestionConfig(AppConfig):
    name = "ingestion"

    def ready(self) -> None:
        # Deferred: models and receivers need the app registry, which is ready only now.
        from django.db.models.signals import post_delete, post_save

        from . import handlers
        from .models import Image

        post_save.connect(handlers.announce_visibility_change, sender=Image, dispatch_uid="ingestion-visible")
        post_delete.connect(handlers.delete_unreferenced_files, sender=Image, dispatch_uid="ingestion-files")

        # Pillow refuses outright at twice its limit; our own check gives the clearer message.
        PILImage.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
        # HEIC/HEIF (iPhone photos) decode through libheif; AVIF is Pillow's own.
        register_heif_opener()
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
