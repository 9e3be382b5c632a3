"""Where errors become responses: one mapping for the API, one for pages.

- API (every path under /api/): JSON `{"error": "<plain words>"}` with the right status, for
  DRF's own errors, the project's `UserFacingError` family (`core.errors`), Django's 400/403/404/
  413/500 and a refused oversized body.
- Pages: the same statuses, with the message shown inside the site layout (`templates/error.html`).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext, gettext_noop
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import UserFacingError

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
# English for the API (programs parse it); pages show them translated (error_response).
GENERIC = {
    400: gettext_noop("The request could not be understood."),
    403: gettext_noop("You do not have permission to do this."),
    404: gettext_noop("Not found."),
    405: gettext_noop("This method is not allowed here."),
    409: gettext_noop("This conflicts with something that already exists."),
    413: gettext_noop("The request body is too large."),
    500: gettext_noop("Something went wrong on our side; it has been logged."),
}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key in ("detail", "non_field_errors") else f"{key}: {message}"
        return GENERIC[400]
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else GENERIC[400]
    return str(detail)


def _headers(exc: Exception) -> dict[str, str]:
    retry_after = getattr(exc, "retry_after_s", None)
    return {"Retry-After": str(retry_after)} if retry_after else {}


def api_exception_handler(exc: Exception, context) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error in the one JSON shape."""
    if isinstance(exc, UserFacingError):
        if exc.status_code >= 500:
            log.warning("%s: %s", type(exc).__name__, exc)
        body = {**getattr(exc, "extra", {}), "error": exc.public_message}
        return Response(body, status=exc.status_code, headers=_headers(exc))
    if isinstance(exc, RequestDataTooBig):
        return Response({"error": GENERIC[413]}, status=413)
    if isinstance(exc, Http404):
        exc = drf.NotFound(str(exc) if str(exc) else GENERIC[404])
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler answers (in JSON for the API)
    detail = response.data
    response.data = {"error": _first_message(detail)}
    if isinstance(detail, dict) and set(detail) - {"detail"}:
        response.data["fields"] = detail
    return response


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(request, status: int, message: str, headers: dict | None = None):
    if _is_api(request):
        return JsonResponse({"error": message}, status=status, headers=headers)
    # A message the catalogue knows is shown in the page's language; any other stays as it is.
    response = render(request, "error.html", {"status": status, "message": gettext(message)}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class UserFacingErrorMiddleware:
    """Pages raise `UserFacingError`s instead of catching them; this shows them in the layout."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc: Exception):
        if isinstance(exc, UserFacingError):
            return error_response(request, exc.status_code, exc.public_message, _headers(exc))
        return None


# Django's handlers for what escapes the views (wired in webapp/urls.py).


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return error_response(request, 413, GENERIC[413])
    return error_response(request, 400, GENERIC[400])


def permission_denied(request, exception=None):
    message = str(exception) if isinstance(exception, PermissionDenied) and str(exception) else GENERIC[403]
    return error_response(request, 403, message)


def page_not_found(request, exception=None):
    message = str(exception) if isinstance(exception, Http404) and exception.args else GENERIC[404]
    if "Resolver404" in message or "{" in message:  # Django's internal resolver details
        message = GENERIC[404]
    return error_response(request, 404, message)


def server_error(request):
    try:
        return error_response(request, 500, GENERIC[500])
    except Exception:  # the layout itself may need what just failed (the database, say)
        log.exception("The error page could not be rendered")
        return HttpResponseServerError(GENERIC[500], content_type="text/plain; charset=utf-8")
