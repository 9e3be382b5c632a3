import warnings

from django.apps import AppConfig
from django.conf import settings
from PIL import Image as PILImage
from pillow_heif import register_heif_opener


class IngestionConfig(AppConfig):
    name = "ingestion"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects ingestion's own receivers)

        # Pillow refuses outright at twice its limit; our own check gives the clearer message.
        PILImage.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
        # HEIC/HEIF (iPhone photos) decode through libheif; AVIF is Pillow's own.
        register_heif_opener()
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
