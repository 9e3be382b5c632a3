from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown
        from django.db.models.signals import post_delete, pre_delete

        from ingestion import facts, filters, image_page
        from ingestion.models import Image
        from ingestion.signals import image_restored, image_trashed, image_visibility_changed, images_created

        from . import handlers, image_facts
        from .pipeline import worker, worker_status
        from .views import image_page as draw_image_page

        image_page.provide(draw_image_page)  # ingestion's image-detail route, drawn by search
        # The image JSON's fields that search keeps in its own tables.
        facts.provide("hashes", image_facts.hashes)
        facts.provide("embeddings", image_facts.embeddings)
        facts.provide("words", image_facts.words)
        filters.provide_condition("has_text", image_facts.has_text)  # the words live in OcrRun

        images_created.connect(handlers.queue_new_images, sender=Image, dispatch_uid="search-queue-new")
        image_visibility_changed.connect(
            handlers.republish_after_visibility_change, sender=Image, dispatch_uid="search-republish"
        )
        pre_delete.connect(handlers.read_vectors_before_delete, sender=Image, dispatch_uid="search-vectors")
        post_delete.connect(handlers.unpublish_deleted_image, sender=Image, dispatch_uid="search-unpublish")
        image_trashed.connect(handlers.unpublish_trashed_images, sender=Image, dispatch_uid="search-trash")
        image_restored.connect(handlers.republish_restored_image, sender=Image, dispatch_uid="search-restore")
        worker_ready.connect(worker.on_worker_ready, dispatch_uid="search-worker-ready")
        worker_shutdown.connect(worker.on_worker_shutdown, dispatch_uid="search-worker-shutdown")
        # Every process that runs tasks marks the batches it indexes (the status page's count).
        task_prerun.connect(worker_status.indexing_started, dispatch_uid="search-indexing-started")
        task_postrun.connect(worker_status.indexing_ended, dispatch_uid="search-indexing-ended")
