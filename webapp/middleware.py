"""Request-level guards that must run before any view, or any middleware, reads the body."""

from __future__ import annotations

from django.conf import settings

from core.errors import PayloadTooLarge

from .errors import error_response
from .lockout import throttle_page
from .throttling import page_scope

# Room for the multipart framing and the small form fields sent beside the files.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024
# Where moderators import a CSV of bans (page and API), up to MODERATION_IMPORT_MAX_BYTES.
BAN_IMPORT_PATHS = ("/moderation/bans/", "/api/moderation/bans/import/")


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def body_limit(path: str) -> tuple[int, str]:
    """The largest body accepted on `path`, and the words that refuse a larger one ({length}: its
    size)."""
    per_image = _size(settings.MAX_UPLOAD_BYTES)
    if path == "/upload/":
        files = settings.MAX_FILES_PER_UPLOAD
        limit = files * settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
        return limit, (
            f"The upload is too large ({{length}}); the limit is {files} images of {per_image} each."
        )
    if path in ("/api/images/", "/search/", "/api/search/"):
        limit = settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
        return limit, f"The upload is too large ({{length}}); the limit is one image of {per_image}."
    if path in BAN_IMPORT_PATHS:
        limit = settings.MODERATION_IMPORT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES
        return limit, f"The upload is too large ({{length}}); the limit is one CSV file of {_size(limit)}."
    limit = settings.MAX_REQUEST_BODY_BYTES
    return limit, f"The request body is too large ({{length}}); the limit here is {_size(limit)}."


class BodySizeLimitMiddleware:
    """Refuse a body larger than its path allows from its Content-Length (413), before Django reads
    or spools any of it. A body without Content-Length is read by Django as empty, so the header
    is the whole story."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads an unparsable length as no body at all
        limit, message = body_limit(request.path)
        if length > limit:
            error = PayloadTooLarge(message.format(length=_size(length)))
            # The server discards (never stores) what was not read before its next request.
            return error_response(request, error.status_code, error.public_message)
        return self.get_response(request)


class PageThrottleMiddleware:
    """The API's throttles on the page doors that do the same work (`throttling.PAGE_SCOPES`: sign-in,
    sign-up, searches, the upload form), counted in the same buckets. In process_view: after CSRF has
    refused forged posts, before the view (and django-axes) does any work."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        scope = page_scope(request)
        if scope is None:
            return None
        # The upload form sends up to MAX_FILES_PER_UPLOAD files: each counts, as each API upload does.
        cost = max(1, len(request.FILES.getlist("files"))) if scope == "upload" else 1
        return throttle_page(request, scope, cost)


# Pages load only this site's own scripts, styles and images (the templates have no inline scripts,
# handlers or style attributes); `blob:` is the upload previews of chosen files.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI (drf-spectacular-sidecar, served from here; its start-up script is a file of its own,
# SpectacularSwaggerSplitView) writes inline <style> and uses data: images.
API_DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
API_DOCS_PATH = "/api/docs/"
# Everything else (images, JSON, CSV, static files) is never a page: an original opened on its own
# runs nothing and loads nothing, whatever its bytes. Inline styles: the browser's own image viewer
# (centring, background) is styled inline; in a sandbox with no script they can do nothing else.
MEDIA_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"


def content_security_policy(path: str, content_type: str) -> str:
    """The Content-Security-Policy for a response of `content_type` on `path`."""
    if not content_type.startswith("text/html"):
        return MEDIA_POLICY
    return API_DOCS_POLICY if path == API_DOCS_PATH else PAGE_POLICY


class ContentSecurityPolicyMiddleware:
    """A Content-Security-Policy on every response that has none (pages, media, static files)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            content_type = response.get("Content-Type", "")
            response["Content-Security-Policy"] = content_security_policy(request.path, content_type)
        return response
