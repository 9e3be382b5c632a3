"""The Explore page and `GET /api/labels/`: the suggested labels (`search.pipeline.labels`) by category,
each with how many of the images the viewer may list carry it and the best-scored few, in the
viewer's language, linking to the search filtered by that label. Only images the viewer may list
(`access.listed_images`): others' private images and withheld ones are never counted or shown.
Labels off: the page and the API say why and list nothing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Count, F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.shortcuts import render
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ingestion.access import listed_images
from ingestion.models import Image

from .engines.encoder.families import family_of
from .models import SuggestedLabel
from .pipeline import labels, switching

FEATURED = 24  # categories the page shows with thumbnails; the rest as links
PER_CATEGORY = 4


@dataclass
class Category:
    label: labels.Label
    count: int
    images: list[Image] = field(default_factory=list)  # the best-scored few, best first

    def search_url(self, model_id: str) -> str:
        """The search filtered by this label, for its name in words the model reads."""
        words = self.label.query_words(family_of(model_id))
        return f"{reverse('search')}?{urlencode({'q': words, 'label': self.label.slug})}"


def _suggestions(user) -> QuerySet[SuggestedLabel]:
    visible = listed_images(user).filter(status=Image.Status.INDEXED).order_by().values("pk")
    return SuggestedLabel.objects.filter(image__in=visible)


def categories(user, *, with_images: int | None = None) -> list[Category]:
    """Every label carried by an image `user` may list, most common first; the first
    `with_images` (all: None) with their best-scored PER_CATEGORY images."""
    vocab = labels.vocabulary()
    suggestions = _suggestions(user)
    counted = suggestions.values("label").annotate(n=Count("pk")).order_by("-n", "label")
    found = [Category(vocab.get(row["label"]), row["n"]) for row in counted if vocab.get(row["label"])]
    shown = found if with_images is None else found[:with_images]
    if shown:
        _add_images(suggestions, shown)
    return found


def _add_images(suggestions: QuerySet[SuggestedLabel], shown: list[Category]) -> None:
    """The best PER_CATEGORY images of each shown category: one query ranking within each label."""
    by_slug = {c.label.slug: c for c in shown}
    ranked = (
        suggestions.filter(label__in=list(by_slug))
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("label")], order_by=[F("score").desc(), F("image_id").desc()]
            )
        )
        .filter(rank__lte=PER_CATEGORY)
        .order_by("label", "rank")
        .values_list("label", "image_id")
    )
    picks: dict[str, list[int]] = defaultdict(list)
    for slug, image_id in ranked:
        picks[slug].append(image_id)
    ids = {pk for chosen in picks.values() for pk in chosen}
    images = {image.pk: image for image in Image.objects.filter(pk__in=ids).select_related("owner")}
    for slug, chosen in picks.items():
        by_slug[slug].images = [images[pk] for pk in chosen if pk in images]


def explore_page(request):
    enabled = labels.enabled()
    found = categories(request.user, with_images=FEATURED) if enabled else []
    model_id = switching.active_model_or_current()
    context = {
        "labels_enabled": enabled,
        "labels_off_reason": labels.off_reason(),
        "featured": [(c, c.search_url(model_id)) for c in found[:FEATURED]],
        "more": [(c, c.search_url(model_id)) for c in found[FEATURED:]],
    }
    return render(request, "search/explore.html", context)


LABELS_ANSWER = inline_serializer(
    "SuggestedLabels",
    {
        "enabled": serializers.BooleanField(),
        "reason": serializers.CharField(help_text="Why labels are off; empty when they are on"),
        "model": serializers.CharField(),
        "min_score": serializers.FloatField(),
        "labels": inline_serializer(
            "SuggestedLabelCategory",
            {
                "slug": serializers.CharField(help_text="The value of the search's label filter"),
                "en": serializers.CharField(),
                "zh-Hans": serializers.CharField(),
                "count": serializers.IntegerField(help_text="Images you may list that carry it"),
                "images": inline_serializer(
                    "SuggestedLabelImage",
                    {"id": serializers.IntegerField(), "thumbnail_url": serializers.CharField()},
                    many=True,
                ),
            },
            many=True,
        ),
    },
)


@extend_schema(
    summary="Suggested labels by category",
    description="Each label the model suggested for images you may list, most common first, with "
    "its names in English and Chinese, how many images carry it and the best-scored few. "
    "Filter a search with `label=<slug>`. Off (enabled false, with the reason) for the demo models.",
    responses=LABELS_ANSWER,
)
@api_view(["GET"])
@permission_classes([AllowAny])
def labels_api(request):
    model_id = switching.active_model_or_current()
    enabled = labels.enabled()
    found = categories(request.user) if enabled else []
    return Response(
        {
            "enabled": enabled,
            "reason": labels.off_reason(),
            "model": model_id,
            "min_score": labels.min_score(model_id),
            "labels": [
                {
                    "slug": c.label.slug,
                    "en": c.label.en,
                    "zh-Hans": c.label.zh,
                    "count": c.count,
                    "images": [{"id": i.pk, "thumbnail_url": i.thumbnail_url} for i in c.images],
                }
                for c in found
            ],
        }
    )
