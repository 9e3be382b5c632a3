"""The one family of errors a user may see. Each carries its HTTP status, so the API handler
(`webapp.errors`) and the page handler map every member the same way, in one place each.

Raise these for anything the caller can understand and act on; the message is shown as is,
so it must be plain words and must never leak internals (paths, SQL, passwords in URLs).
"""

from __future__ import annotations


class UserFacingError(Exception):
    status_code = 400
    # What the user is told when the message itself holds details only operators should see.
    public_default: str | None = None

    def __init__(self, message: str, *, public: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.public_message = public or self.public_default or message

    def __str__(self) -> str:
        return self.message


class BadInput(UserFacingError, ValueError):
    """The request itself is unusable (a 400): fix the input and try again."""

    status_code = 400


class Forbidden(UserFacingError):
    """Signed in, but not allowed to do this (a 403)."""

    status_code = 403


class PayloadTooLarge(BadInput):
    """The body is larger than any acceptable request (a 413), refused before it is read."""

    status_code = 413


class Conflict(UserFacingError):
    """The request clashes with what already exists (a 409); `extra` adds machine-readable fields
    to the API's error body, e.g. the id of the existing copy."""

    status_code = 409

    def __init__(self, message: str, *, public: str | None = None, extra: dict | None = None) -> None:
        super().__init__(message, public=public)
        self.extra = extra or {}


class ServiceUnavailable(UserFacingError, RuntimeError):
    """A component is down or not ready (a 503): the same request may work later."""

    status_code = 503
    retry_after_s: int | None = None
