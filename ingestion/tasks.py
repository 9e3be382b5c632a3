"""Celery tasks of the ingestion app (found by `webapp.celery`'s autodiscovery)."""

from __future__ import annotations

from celery import shared_task

from . import trash


@shared_task(name="ingestion.tasks.purge_trash", ignore_result=True)
def purge_trash() -> int:
    """Run by beat hourly: images in the trash longer than TRASH_DAYS are deleted for good."""
    return trash.purge_expired()
