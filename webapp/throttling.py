"""Throttling with DRF's machinery: per signed-in user and per IP, one scope per kind of endpoint,
rates in settings.THROTTLE_RATES (lockout after failed sign-ins: `webapp.lockout`). The page doors
(PAGE_SCOPES) count in the same buckets as their API twins (API_SCOPES). The client's address is
`client_address()`, also django-axes' (AXES_CLIENT_IP_CALLABLE).

Counters live in the "throttle" cache (Redis in production, shared by every web process); if it is
unreachable the web process counts in its own memory rather than fail or stop throttling."""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)

# (URL name, method) -> scope, for the API views of the apps below (they cannot import this module).
API_SCOPES = {
    ("api-token", "POST"): "auth",
    ("api-search", "GET"): "search",
    ("api-search", "POST"): "search_image",
    ("api-similar", "GET"): "search",
    ("api-duplicates", "GET"): "search",
    ("api-images", "POST"): "upload",
}
# The pages that do the same work, in the same buckets: one budget per action whichever door is used.
PAGE_SCOPES = {
    ("login", "POST"): "auth",
    ("signup", "POST"): "signup",
    ("search", "GET"): "search",  # words, hybrid, an example's results, similar images
    ("search", "POST"): "search_image",  # stores the example image for an hour
    ("upload", "POST"): "upload",  # the form without JavaScript: one count per file
}


def _method(request) -> str:
    # Django and DRF answer HEAD with the GET view (the whole search runs): same bucket.
    return "GET" if request.method == "HEAD" else request.method


def page_scope(request) -> str | None:
    """The throttle scope of a page request, or None (the blank search page is not a search)."""
    match = request.resolver_match
    scope = PAGE_SCOPES.get((match.url_name, _method(request))) if match else None
    if scope == "search" and not request.GET:
        return None
    return _region_scope(request.GET, scope)


def _region_scope(params, scope: str | None) -> str | None:
    """A search by a region decodes a stored original and encodes the crop: the work of a search
    by image, so it counts in that budget (`?region=` on the search page and on similar)."""
    return "search_image" if scope == "search" and "region" in params else scope


def client_address(request) -> str:
    """The real client's address: REMOTE_ADDR, or behind TRUSTED_PROXIES reverse proxies the
    address the outermost of them saw, i.e. the Nth entry from the right of X-Forwarded-For (as
    DRF's NUM_PROXIES reads it). Entries further left are the client's own say and never used. An
    entry that is not an IP address (a misconfigured proxy) counts as the proxy's own address."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = settings.TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not proxies or not forwarded:
        return remote
    entries = [entry.strip() for entry in forwarded.split(",")]
    candidate = entries[-min(proxies, len(entries))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class _FailOpenCache:
    """The throttle cache, or this process's memory while it is unreachable."""

    def _call(self, method: str, *args):
        try:
            return getattr(caches["throttle"], method)(*args)
        except Exception as exc:  # a Redis outage must not turn into 500s
            log.warning("Throttle cache unavailable, counting in process memory: %s", exc)
            return getattr(caches["default"], method)(*args)

    def get(self, key, default=None):
        return self._call("get", key, default)

    def set(self, key, value, timeout=None):
        return self._call("set", key, value, timeout)


class ScopedThrottle(SimpleRateThrottle):
    """Per signed-in user, or per IP address when signed out. The scope comes from the view's
    `throttle_scope` or API_SCOPES; views with neither are not throttled."""

    cache = _FailOpenCache()
    suffix = ""

    def __init__(self) -> None:  # the rate is looked up per request, in allow_request
        pass

    def scope_for(self, request, view) -> str | None:
        scope = getattr(view, "throttle_scope", None)
        if scope is None and request.resolver_match is not None:
            scope = API_SCOPES.get((request.resolver_match.url_name, _method(request)))
            scope = _region_scope(request.query_params, scope)
        return scope

    def get_ident(self, request) -> str:
        return client_address(request)

    def ident_for(self, request) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user-{user.pk}"
        return f"ip-{self.get_ident(request)}"

    def allow_request(self, request, view, cost: int = 1) -> bool:
        """`cost`: how many actions this request is (files of one upload form)."""
        scope = self.scope_for(request, view)
        rate = settings.THROTTLE_RATES.get(f"{scope}{self.suffix}") if scope else None
        if not rate:
            return True
        self.scope = f"{scope}{self.suffix}"
        self.rate = rate
        self.num_requests, self.duration = self.parse_rate(rate)
        self.key = self.cache_format % {"scope": self.scope, "ident": self.ident_for(request)}
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) + cost > self.num_requests:
            return self.throttle_failure()
        self.history[:0] = [self.now] * cost  # newest first, as DRF keeps it
        self.cache.set(self.key, self.history, self.duration)
        return True


class ScopedIPThrottle(ScopedThrottle):
    """The same scopes per IP address whoever is signed in (rates named '<scope>_ip'): many
    accounts behind one address share one budget."""

    suffix = "_ip"

    def ident_for(self, request) -> str:
        return f"ip-{self.get_ident(request)}"
