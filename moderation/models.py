"""Moderation's records: links between near-duplicate images, the groups they form, the ban bank
and the audit log. Images themselves stay in `ingestion.models.Image`."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import models
from django.utils import timezone

from ingestion.models import Image


class Bank(models.Model):
    """A named list of banned content; a disabled bank matches nothing."""

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    # How far (PDQ bits) an upload may be from this bank's hashes and still match; empty means
    # settings.BAN_PDQ_DISTANCE. A partner's list of near-identical hashes may want it tighter.
    max_distance = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def match_distance(self) -> int:
        return settings.BAN_PDQ_DISTANCE if self.max_distance is None else self.max_distance


class BanCategory(models.TextChoices):
    """Why content is banned, as its owner is told (the moderator's own words stay internal)."""

    RULES = "rules", "Against the site's rules"
    SPAM = "spam", "Spam or advertising"
    COPYRIGHT = "copyright", "Copyright infringement"
    SEXUAL = "sexual", "Sexual content"
    VIOLENCE = "violence", "Violent or graphic content"
    HATE = "hate", "Hate or harassment"
    PRIVACY = "privacy", "Someone's private information"
    ILLEGAL = "illegal", "Illegal content"


class Rescan(models.Model):
    """A retroactive match: the images already stored (indexed, up to `upto`) matched against the
    ban entries a ban or an import just added (`BanEntry.rescan`), in batches in the background
    (`moderation.rescans`). `cursor` is the last image id done, so a rerun after a crash goes on
    from there; a batch done twice is harmless (a pair already judged is never queued again)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"

    origin = models.CharField(max_length=16)  # "ban" or "import"
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    upto = models.BigIntegerField(default=0)  # the newest image id at the start; later ones are screened
    cursor = models.BigIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)  # indexed images up to `upto`, at the start
    scanned = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)  # images withheld by these entries (ids <= upto)
    error = models.TextField(blank=True)  # the last failure; the sweep retries
    lease_until = models.DateTimeField(null=True, blank=True)  # one worker at a time
    queued_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    @property
    def active(self) -> bool:
        return self.status != self.Status.DONE


class BanEntry(models.Model):
    """What is banned: the hashes and vector of an image, kept even after the image is deleted
    (or, for imported entries, a PDQ hash alone). `category` is public (the owner of a withheld
    upload reads it); `reason` is the moderator's internal note."""

    bank = models.ForeignKey(Bank, on_delete=models.CASCADE, related_name="entries")
    image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    pdq_hash = models.CharField(max_length=64, blank=True)
    pdq_quality = models.SmallIntegerField(null=True, blank=True)
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=255, blank=True)
    reason = models.TextField(blank=True)  # internal note: moderators only
    category = models.CharField(max_length=16, choices=BanCategory.choices, default=BanCategory.RULES)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The entry's own copy of the image's thumbnail (a storage name), taken when it is banned and
    # served to moderators only (`moderation.media.ban_thumbnail`): judging a match never reopens
    # the source image, and it outlives the source's deletion. Empty for imported hashes.
    thumbnail = models.CharField(max_length=255, blank=True)
    # The retroactive match that checks the images stored before this entry was added.
    rescan = models.ForeignKey(
        Rescan, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )
    confirmed = models.PositiveIntegerField(default=0)  # matches moderators confirmed
    false_positives = models.PositiveIntegerField(default=0)  # matches moderators rejected

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.bank.name}#{self.pk}"

    def embedding_vector(self) -> np.ndarray | None:
        return np.frombuffer(bytes(self.embedding), dtype=np.float32) if self.embedding else None


class BanHash(models.Model):
    """One PDQ variant of a ban entry (plain, trimmed, central crops), published to Milvus."""

    entry = models.ForeignKey(BanEntry, on_delete=models.CASCADE, related_name="hashes")
    kind = models.CharField(max_length=16)
    pdq_hash = models.CharField(max_length=64)
    quality = models.SmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "kind"], name="one_ban_hash_per_kind")]


class Link(models.Model):
    """Two images judged near-duplicates, with the tier that linked them. `a` has the lower id.
    A link moderators dismissed ("not a duplicate") or resolved never forms a group again, and a
    rescan never reopens it."""

    class Kind(models.TextChoices):
        EXACT = "exact"  # same sha256
        PDQ = "pdq"  # PDQ variants within the match distance
        CLIP = "clip"  # CLIP cosine at or above NEAR_DUPLICATE_SCORE

    class State(models.TextChoices):
        OPEN = "open"
        DISMISSED = "dismissed"
        RESOLVED = "resolved"

    a = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    b = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    pdq_distance = models.SmallIntegerField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    variant = models.CharField(max_length=40, blank=True)  # which hashes met, e.g. "mirror~plain"
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["a", "b"], name="one_link_per_pair"),
            models.CheckConstraint(condition=models.Q(a__lt=models.F("b")), name="link_a_below_b"),
        ]


class Group(models.Model):
    """What a moderator reviews: near-duplicates (the connected components of open links), or
    one upload that matched a ban entry."""

    class Kind(models.TextChoices):
        DUPLICATE = "duplicate"
        BANNED = "banned"

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    kind = models.CharField(max_length=10, choices=Kind.choices, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    # The owner of a withheld image asked for this review (`withholding.request_review`).
    requested_by_owner = models.BooleanField(default=False)
    resolution = models.CharField(max_length=20, blank=True)  # kept, dismissed, confirmed, false_positive
    images = models.ManyToManyField(Image, through="GroupMember", related_name="+")
    size = models.PositiveIntegerField(default=0)
    ban = models.ForeignKey(BanEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="groups")
    ban_kind = models.CharField(max_length=8, blank=True)  # how it matched: exact, pdq, clip
    ban_distance = models.SmallIntegerField(null=True, blank=True)
    ban_score = models.FloatField(null=True, blank=True)
    ban_variant = models.CharField(max_length=40, blank=True)  # which hashes met, e.g. "mirror~plain"
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status", "size"])]


class Hold(models.Model):
    """One reason an image is withheld: a ban entry it matched (the banned image itself, a
    re-upload, a retroactive match) or a moderator's decision. An image is hidden exactly while it
    has a hold (`moderation.withholding`), so lifting a ban un-hides what that ban alone hid."""

    class Cause(models.TextChoices):
        BAN = "ban"
        DECISION = "decision"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="holds")
    cause = models.CharField(max_length=10, choices=Cause.choices)
    ban = models.ForeignKey(BanEntry, null=True, blank=True, on_delete=models.CASCADE, related_name="holds")
    # The queue group that reviews this hold (a ban match, or the owner's request for review).
    group = models.ForeignKey("Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="holds")
    public_reason = models.CharField(max_length=300)  # what the owner reads; never a moderator's note
    review_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "ban"], condition=models.Q(ban__isnull=False), name="one_hold_per_ban"
            )
        ]


class GroupMember(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="moderation_groups")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "image"], name="one_membership")]


class AuditEntry(models.Model):
    """Who did what, when, and why: every moderation action, and what the system did on its own
    (moderator empty)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moderator_name = models.CharField(max_length=150, blank=True)  # kept if the account goes
    action = models.CharField(max_length=40)
    target = models.CharField(max_length=200)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]


class ReviewerSettings(models.Model):
    """A moderator's own settings for the queue, kept with the account so they follow them from
    device to device. Thumbnails are blurred by default (reviewer wellness, as trust-and-safety
    tools do); each moderator may turn that off."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="reviewer_settings"
    )
    blur_thumbnails = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)
