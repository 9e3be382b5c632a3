"""Sign-in lockout with django-axes (refused after repeated failures for one account from one
address, on the login page and the token endpoint alike), the throttled token endpoint, and the
same throttles as the API for the page doors (`webapp.middleware.PageThrottleMiddleware`). Every
refusal is a 429 with Retry-After in the project's error shape (`webapp.errors`)."""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.authtoken import views as authtoken_views
from rest_framework.authtoken.models import Token
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from .errors import error_response
from .parsers import BoundedJSONParser
from .throttling import ScopedIPThrottle, ScopedThrottle


def _retry_after(seconds: float | None) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))} if seconds else {}


# What a refused page says, by scope.
PAGE_REFUSALS = {
    "auth": "Too many sign-in attempts from your address",
    "signup": "Too many sign-ups from your address",
    "search": "Too many searches in a short time",
    "search_image": "Too many searches by image in a short time",
    "upload": "Too many uploads in a short time",
}


def throttle_page(request, scope: str, cost: int = 1) -> HttpResponse | None:
    """The API's throttles (and counts) for a page door, or None while within them: a 429 in the
    site's layout with Retry-After."""
    holder = type("PageView", (), {"throttle_scope": scope})()
    for throttle in (ScopedThrottle(), ScopedIPThrottle()):
        if not throttle.allow_request(request, holder, cost):
            wait = throttle.wait()
            later = f"try again in {math.ceil(wait)} second(s)" if wait else "try again later"
            message = f"{PAGE_REFUSALS.get(scope, 'Too many requests')}; {later}."
            return error_response(request, 429, message, _retry_after(wait))
    return None


class LockoutBackend(AxesStandaloneBackend, ModelBackend):
    """Django's own sign-in behind django-axes' check (one backend, so `login()` needs no name).
    Sign-ins made in code without a request (tests' `Client.login`, shells) are not web attempts."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None:  # raises AxesBackendPermissionDenied while locked out
            AxesStandaloneBackend.authenticate(self, request, username=username, password=password, **kwargs)
        return ModelBackend.authenticate(self, request, username=username, password=password, **kwargs)


def lockout_message() -> str:
    cool_off = get_cool_off()
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    later = f"try again in {minutes} minute(s)" if minutes else "ask an administrator to unlock it"
    return f"Too many failed sign-ins for this account from your address; {later}."


def locked_out(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the lockout in the project's error shape (JSON for the API)."""
    cool_off = get_cool_off(request)
    headers = _retry_after(cool_off.total_seconds() if cool_off else None)
    return error_response(request, settings.AXES_HTTP_RESPONSE_CODE, lockout_message(), headers)


class ObtainAuthToken(authtoken_views.ObtainAuthToken):
    """DRF's token endpoint (which turns throttling off), throttled and behind the lockout."""

    throttle_classes = [ScopedThrottle, ScopedIPThrottle]
    throttle_scope = "auth"
    parser_classes = [FormParser, MultiPartParser, BoundedJSONParser]

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        valid = serializer.is_valid()
        # axes marks the request it was given: DRF's wrapper, not Django's request underneath.
        if getattr(request, "axes_locked_out", False) or getattr(request._request, "axes_locked_out", False):
            cool_off = get_cool_off(request)
            raise exceptions.Throttled(
                wait=cool_off.total_seconds() if cool_off else None, detail=lockout_message()
            )
        if not valid:
            raise exceptions.ValidationError(serializer.errors)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


obtain_auth_token = ObtainAuthToken.as_view()
