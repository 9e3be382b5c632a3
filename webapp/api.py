"""API-wide conventions: every error body carries a plain-words "error" message."""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key in ("detail", "non_field_errors") else f"{key}: {message}"
        return "Invalid request."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid request."
    return str(detail)


def exception_handler(exc, context) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data
        response.data = {"error": _first_message(detail)}
        if isinstance(detail, dict) and set(detail) - {"detail"}:
            response.data["fields"] = detail
    return response


def error(message: str, status: int) -> Response:
    return Response({"error": message}, status=status)
