from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"

    def ready(self) -> None:
        # Deferred: models and receivers need the app registry, which is ready only now.
        from django.db.models.signals import post_save

        from ingestion.models import Image
        from search.signals import image_indexed, images_screening

        from . import handlers

        post_save.connect(handlers.withhold_banned_upload, sender=Image, dispatch_uid="moderation-exact-ban")
        images_screening.connect(
            handlers.screen_indexed_images, sender=Image, dispatch_uid="moderation-screen"
        )
        image_indexed.connect(handlers.check_indexed_images, sender=Image, dispatch_uid="moderation-check")
