from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from . import renditions

# A GIF up to this size is shown as itself on its page (it may move; a preview is a still).
ANIMATION_MAX_BYTES = 8 * 1024 * 1024


class Tag(models.Model):
    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImageQuerySet(models.QuerySet):
    def visible_to(self, user, *, moderator: bool = False) -> ImageQuerySet:
        """What one image's doors (its page, files, API detail) show: public images plus the
        viewer's own; private means private, to staff too. A public image hidden by moderation is
        seen only by its owner and by moderators (`access.is_moderator`)."""
        public = models.Q(visibility=Image.Visibility.PUBLIC)
        shown = public if moderator else public & models.Q(moderation=Image.Moderation.VISIBLE)
        return self.filter(shown | self._own(user))

    def listed_for(self, user, *, moderator: bool = False, hidden: bool = False) -> ImageQuerySet:
        """What listings (gallery, API list, search, an image's neighbours) show: what everyone
        sees plus the viewer's own. `hidden` lists the withheld images instead: the viewer's own,
        and for moderators every hidden public one (never others' private ones)."""
        viewer_id = user.pk if user is not None and user.is_authenticated else None
        return self.filter(listed_q(viewer_id, moderator=moderator, hidden=hidden))

    @staticmethod
    def _own(user) -> models.Q:
        if user is not None and user.is_authenticated:
            return models.Q(owner_id=user.pk)
        return models.Q(pk__in=[])

    def trashed(self) -> ImageQuerySet:
        return self.filter(trashed_at__isnull=False)


def listed_q(viewer_id: int | None, *, moderator: bool = False, hidden: bool = False) -> models.Q:
    """The listing rule of `ImageQuerySet.listed_for` as a `Q` (`ingestion.filters.ImageFilter`
    renders it beside the filters; `viewer_id` None is a signed-out viewer)."""
    own = models.Q(owner_id=viewer_id) if viewer_id is not None else models.Q(pk__in=[])
    if hidden:
        # Moderators list every withheld public image; nobody lists others' private ones.
        others = models.Q(visibility=Image.Visibility.PUBLIC) if moderator else models.Q(pk__in=[])
        return models.Q(moderation=Image.Moderation.HIDDEN) & (own | others)
    return models.Q(visibility=Image.Visibility.PUBLIC, moderation=Image.Moderation.VISIBLE) | own


class LiveImageManager(models.Manager.from_queryset(ImageQuerySet)):
    """`Image.objects`: images not in the trash. Being the default manager, every door, listing,
    search, index sync and duplicate check leaves trashed images out without having to remember to;
    only the trash itself, the purge, file references and backups use `Image.all_objects`."""

    def get_queryset(self) -> ImageQuerySet:
        return super().get_queryset().filter(trashed_at__isnull=True)


class Image(models.Model):
    objects = LiveImageManager()
    all_objects = ImageQuerySet.as_manager()  # the trash too

    class Status(models.TextChoices):
        PENDING = "pending"
        INDEXED = "indexed"
        FAILED = "failed"

    class Visibility(models.TextChoices):
        PUBLIC = "public"
        PRIVATE = "private"

    class Moderation(models.TextChoices):
        VISIBLE = "visible"
        HIDDEN = "hidden"  # withheld by moderation: seen only by its owner and moderators

    class TrashOrigin(models.TextChoices):
        DELETE = "delete"  # the owner (or staff) deleted it
        MODERATION = "moderation"  # a moderator's resolve deleted it

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images")
    title = models.CharField(max_length=200, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="images")
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC, db_index=True
    )

    # Files are content-addressed by sha256, so identical uploads share one stored original.
    original = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255, blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=16)
    size_bytes = models.BigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    taken_at = models.DateTimeField(null=True, blank=True)

    moderation = models.CharField(
        max_length=10, choices=Moderation.choices, default=Moderation.VISIBLE, db_index=True
    )
    moderation_reason = models.TextField(blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    indexed_at = models.DateTimeField(null=True, blank=True)

    # In the trash (ingestion/trash.py) since then: out of every listing and index, restorable
    # until the purge deletes it for real, TRASH_DAYS later.
    trashed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    trashed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trash_origin = models.CharField(max_length=12, choices=TrashOrigin.choices, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return self.title or self.original_filename or f"image {self.pk}"

    @classmethod
    def from_db(cls, db, field_names, values):
        image = super().from_db(db, field_names, values)
        image.remember_visibility()
        return image

    def remember_visibility(self) -> None:
        """Note the stored visibility, so a save can tell whether it changed."""
        self._stored_visibility = self.__dict__.get("visibility")

    def visibility_changed(self) -> bool:
        stored = getattr(self, "_stored_visibility", None)
        return stored is not None and stored != self.visibility

    @property
    def display_title(self) -> str:
        return str(self)

    def get_absolute_url(self) -> str:
        return reverse("image-detail", args=[self.pk])

    @property
    def file_url(self) -> str:
        return reverse("image-file", args=[self.pk])

    @property
    def thumbnail_url(self) -> str | None:
        return reverse("image-thumbnail", args=[self.pk]) if self.thumbnail else None

    # The responsive sizes (ingestion/renditions.py). Rows indexed before they existed still work:
    # the media view answers a size it does not have with the thumbnail.

    def sized_url(self, size: str) -> str | None:
        url = self.thumbnail_url
        return f"{url}?size={size}" if url else None

    @property
    def thumbnail_urls(self) -> dict[str, str]:
        """{size: url} for every size; empty until the image has a thumbnail."""
        return {size: self.sized_url(size) for size in renditions.NAMES} if self.thumbnail else {}

    def sized(self, size: str) -> tuple[int, int]:
        """Width and height of one size, from the stored width and height (as the image is seen)."""
        return renditions.target_size(self.width, self.height, renditions.BY_NAME[size])

    def _srcset(self, *sizes: str) -> str:
        seen, candidates = set(), []
        for size in sizes:
            width = self.sized(size)[0]
            if width not in seen:  # a small image is the same in every size: one candidate
                seen.add(width)
                candidates.append(f"{self.sized_url(size)} {width}w")
        return ", ".join(candidates)

    @property
    def grid_srcset(self) -> str:
        return self._srcset("small", "medium")

    @property
    def grid_sizes(self) -> str:
        return renditions.grid_sizes(self.width, self.height)

    @property
    def grid_width(self) -> int:
        return self.sized("small")[0]

    @property
    def grid_height(self) -> int:
        return self.sized("small")[1]

    @property
    def preview_srcset(self) -> str:
        return self._srcset("medium", "preview")

    @property
    def preview_width(self) -> int:
        return self.sized("preview")[0]

    @property
    def preview_height(self) -> int:
        return self.sized("preview")[1]

    @property
    def page_shows_original(self) -> bool:
        """A GIF may move, which no still preview shows: its page shows the original, unless big."""
        return self.format == "GIF" and self.size_bytes <= ANIMATION_MAX_BYTES

    @property
    def is_public(self) -> bool:
        return self.visibility == self.Visibility.PUBLIC

    @property
    def shown_to_everyone(self) -> bool:
        """Public and not withheld: only then may a shared cache keep its files."""
        return self.is_public and self.moderation == self.Moderation.VISIBLE

    def visible_to(self, user, *, moderator: bool = False) -> bool:
        """The rule of `ImageQuerySet.visible_to`, for one image in hand."""
        if user and user.is_authenticated and user.pk == self.owner_id:
            return True
        if not self.is_public:
            return False
        return moderator or self.moderation != self.Moderation.HIDDEN

    def editable_by(self, user) -> bool:
        return bool(user and user.is_authenticated and (user.pk == self.owner_id or user.is_staff))

    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags.all()]
