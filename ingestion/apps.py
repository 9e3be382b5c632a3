import warnings

from django.apps import AppConfig
from django.conf import settings
from PIL import Image as PILImage


class IngestionConfig(AppConfig):
    name = "ingestion"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects ingestion's own receivers)

        # Pillow refuses outright at twice its limit; our own check gives the clearer message.
        PILImage.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
