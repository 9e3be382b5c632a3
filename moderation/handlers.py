"""Moderation's answers to what the search app announces (connected in `ModerationConfig.ready()`)."""

from __future__ import annotations

from .detection import check_images


def check_indexed_images(sender, ids: list[int], **kwargs) -> None:
    """Runs in the ingest worker right after indexing: duplicates and bans for the new images."""
    check_images(ids)
