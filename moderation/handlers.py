"""Moderation's answers to what the apps below announce (connected in `ModerationConfig.ready()`)."""

from __future__ import annotations

from ingestion.models import Image

from .detection import check_images, screen_images, withhold_exact_copy


def withhold_banned_upload(sender, instance: Image, created: bool, raw: bool = False, **kwargs) -> None:
    """post_save of a new image, inside the upload's transaction: the bytes of banned content are
    hidden before anyone else can see them."""
    if created and not raw:
        withhold_exact_copy(instance)


def screen_indexed_images(sender, ids: list[int], **kwargs) -> None:
    """search's `images_screening`, before publication: ban matches (near copies too) are withheld."""
    screen_images(ids)


def check_indexed_images(sender, ids: list[int], **kwargs) -> None:
    """Runs in the ingest worker right after indexing: duplicate links and groups (the bans were
    applied while screening)."""
    check_images(ids, bans=False)
