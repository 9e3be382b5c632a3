"""The Celery app: an `ingest` queue for indexing and a `query` queue for search embeddings.
Worker start-up handlers are connected by the search app (`SearchConfig.ready()`)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["search", "ingestion", "moderation"])
