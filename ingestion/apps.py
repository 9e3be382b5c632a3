from django.apps import AppConfig


class IngestionConfig(AppConfig):
    name = "ingestion"

    def ready(self) -> None:
        import warnings

        from django.conf import settings
        from PIL import Image as PILImage

        from . import signals  # noqa: F401

        # Pillow refuses outright at twice its limit; our own check gives the clearer message.
        PILImage.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
