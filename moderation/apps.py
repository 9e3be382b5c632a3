from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"

    def ready(self) -> None:
        # Deferred: models and receivers need the app registry, which is ready only now.
        from ingestion.models import Image
        from search.signals import image_indexed

        from . import handlers

        image_indexed.connect(handlers.check_indexed_images, sender=Image, dispatch_uid="moderation-check")
