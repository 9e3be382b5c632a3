from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"

    def ready(self) -> None:
        # Deferred: models and receivers need the app registry, which is ready only now.
        from django.db.models.signals import post_save

        from ingestion.models import Image
        from ingestion.signals import image_deleted_forever, image_restored, image_restoring, image_trashed
        from search.signals import image_indexed, images_screening, index_reconciled

        from . import handlers

        post_save.connect(handlers.withhold_banned_upload, sender=Image, dispatch_uid="moderation-exact-ban")
        images_screening.connect(
            handlers.screen_indexed_images, sender=Image, dispatch_uid="moderation-screen"
        )
        image_indexed.connect(handlers.check_indexed_images, sender=Image, dispatch_uid="moderation-check")
        index_reconciled.connect(handlers.sync_ban_collection, dispatch_uid="moderation-ban-collection")
        image_trashed.connect(handlers.after_trash, sender=Image, dispatch_uid="moderation-trash")
        image_restoring.connect(handlers.refuse_banned_restore, sender=Image, dispatch_uid="mod-restoring")
        image_restored.connect(handlers.after_restore, sender=Image, dispatch_uid="moderation-restore")
        image_deleted_forever.connect(handlers.after_delete_forever, sender=Image, dispatch_uid="mod-forever")
