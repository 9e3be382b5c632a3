"""The Celery app: an `ingest` queue for indexing and a `query` queue for search embeddings."""

import os

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["ingestion", "search"])


@worker_ready.connect
def _worker_ready(sender, **kwargs):
    from search.worker import on_worker_ready

    on_worker_ready(sender)


@worker_shutdown.connect
def _worker_shutdown(sender, **kwargs):
    from search.worker import on_worker_shutdown

    on_worker_shutdown()
