"""The moderator role (`ingestion.access.is_moderator`) for the API and for pages."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from rest_framework.permissions import BasePermission

from core.errors import Forbidden
from ingestion.access import is_moderator

NOT_MODERATOR = "Only moderators can do this."


class IsModerator(BasePermission):
    """401 signed out (DRF answers so when no credentials came), 403 for everyone else."""

    message = NOT_MODERATOR

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and is_moderator(request.user))


def moderator_required(view):
    """Pages: signed out -> the login page; signed in without the role -> 403 in the layout."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_moderator(request.user):
            raise Forbidden(NOT_MODERATOR)
        return view(request, *args, **kwargs)

    return wrapper
