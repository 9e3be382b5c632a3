"""The interface's language: English or 简体中文 for pages, English for the API.

Pages follow the switcher's cookie (Django's `set_language` view), else the browser's
`Accept-Language`. The API (every path under /api/) always answers in English: programs parse its
error texts, and DRF ships its own Chinese translations that would otherwise leak into them.
"""

from __future__ import annotations

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation import gettext_noop

from webapp.errors import API_PREFIX


class PageLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request) -> None:
        if request.path.startswith(API_PREFIX):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return
        super().process_request(request)

    def process_response(self, request, response):
        if request.path.startswith(API_PREFIX):
            response.headers.setdefault("Content-Language", settings.LANGUAGE_CODE)
            return response
        return super().process_response(request, response)


# Values the pages show through `{% translate value %}` (statuses, visibility, duplicate tiers, search
# modes and rankers): listed here so `makemessages` puts them in the catalogue.
SHOWN_VALUES = (
    gettext_noop("pending"),
    gettext_noop("indexed"),
    gettext_noop("failed"),
    gettext_noop("public"),
    gettext_noop("private"),
    gettext_noop("exact"),
    gettext_noop("near"),
    gettext_noop("similar"),
    gettext_noop("hybrid"),
    gettext_noop("semantic"),
    gettext_noop("text"),
    gettext_noop("words"),
    gettext_noop("fused"),
    gettext_noop("keywords"),
    gettext_noop("title"),
    gettext_noop("tags"),
    gettext_noop("visibility"),
    gettext_noop("queued"),
    gettext_noop("running"),
    gettext_noop("done"),
)
