"""Gallery and API list filters, from query-string values to a queryset."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from .models import Image
from .validation import InvalidImage


def _moment(raw: str, name: str):
    try:
        # The date first: parse_datetime would read a bare date as midnight.
        value = parse_date(raw) or parse_datetime(raw)
    except ValueError:  # well formed but impossible, e.g. month 13
        value = None
    if value is None:
        raise InvalidImage(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 date-time.")
    return value


def filter_images(qs: QuerySet[Image], params, user) -> QuerySet[Image]:
    owner = params.get("owner")
    if owner == "me":
        qs = qs.filter(owner=user) if user.is_authenticated else qs.none()
    elif owner:
        qs = qs.filter(owner__username=owner)
    status = params.get("status")
    if status:
        if status not in Image.Status.values:
            raise InvalidImage("status must be one of: pending, indexed, failed.")
        qs = qs.filter(status=status)
    visibility = params.get("visibility")
    if visibility:
        if visibility not in Image.Visibility.values:
            raise InvalidImage("visibility must be 'public' or 'private'.")
        qs = qs.filter(visibility=visibility)
    if params.get("tag"):
        qs = qs.filter(tags__name=params["tag"].strip().lower())
    for name, op in (("created_after", "gte"), ("created_before", "lte")):
        if params.get(name):
            moment = _moment(params[name], name)
            # A bare date compares with the day, a date-time with the instant.
            lookup = f"created_at__{op}" if isinstance(moment, datetime) else f"created_at__date__{op}"
            qs = qs.filter(**{lookup: moment})
    ids = params.get("ids")
    if ids:
        try:
            qs = qs.filter(pk__in=[int(i) for i in ids.split(",") if i][:200])
        except ValueError:
            raise InvalidImage("ids must be a comma-separated list of image ids.") from None
    return qs
