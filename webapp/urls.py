from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog, set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import accounts, health, lockout, status

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # The header's language switcher (a plain form: POST, CSRF, a cookie) and the scripts' strings.
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/catalog.js", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    # Browsers ask for /favicon.ico on pages that do not name one (JSON, the API docs).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/signup/", accounts.signup, name="signup"),  # throttled: webapp.throttling.PAGE_SCOPES
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", accounts.account, name="account"),
    path("accounts/token/", accounts.token, name="account-token"),
    path("accounts/password_change/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path("status/", status.status_page, name="status"),
    path("status/summary.json", status.status_json, name="status-json"),
    path("status/retry/", status.retry, name="status-retry"),
    path("status/model/", status.model_switch_start, name="status-model-switch"),
    path("status/model/cancel/", status.model_switch_cancel, name="status-model-cancel"),
    path("status/model/drop/", status.model_switch_drop, name="status-model-drop"),
    path("api/auth/token/", lockout.obtain_auth_token, name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Split: the start-up script is a file of its own (?script), so the page needs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("ingestion.api_urls")),
    path("api/", include("search.api_urls")),
    path("api/", include("moderation.api_urls")),
    path("", include("ingestion.urls")),
    path("", include("search.urls")),
    path("", include("moderation.urls")),
]

handler400 = "webapp.errors.bad_request"
handler403 = "webapp.errors.permission_denied"
handler404 = "webapp.errors.page_not_found"
handler500 = "webapp.errors.server_error"
