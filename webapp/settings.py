"""All configuration, read from environment variables here and nowhere else."""

from __future__ import annotations

import math
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# Environment helpers: each reads one variable; unset or empty means the default, and a value that
# does not parse stops start-up with a message naming the variable instead of being guessed at.
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name)
    if not value:
        return default
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off, got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = env_str(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = env_str(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum:g}, got {number:g}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    """Comma-separated; blank items are dropped."""
    value = env_str(name)
    if not value:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


# launcher.environment.prepare() (run by manage.py and `make run`) creates DATA_DIR and the secret key
# and passes both on; settings only read them, so importing them touches no files.
DATA_DIR = Path(env_str("DATA_DIR") or BASE_DIR / "data").resolve()

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Set it (in production), or start through `manage.py` or "
        "`make run`, which create one in DATA_DIR/secret_key and pass it on."
    )
DEBUG = env_bool("DEBUG")
PORT = env_int("PORT", 8000, minimum=1)
# The names this site answers to (the Host header is copied into absolute URLs): the local names
# plus HOST, the address `make run` binds to; ALLOWED_HOSTS replaces the list (`*` only if asked).
_HOST = env_str("HOST")
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    ["localhost", "127.0.0.1", "[::1]"]
    + ([_HOST] if _HOST and _HOST not in ("0.0.0.0", "::", "[::]", "localhost", "127.0.0.1") else []),
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# HTTPS=1 for a deployment served over https (directly or behind a TLS-terminating proxy): secure
# cookies, redirects to https and HSTS. Off by default so `make run` works on plain http.
HTTPS = env_bool("HTTPS")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
# Preloading commits the whole domain to https in browsers for months: the operator's decision only.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Behind a proxy that terminates TLS: trust its X-Forwarded-Proto (only if it always sets it).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO") else None
# How many reverse proxies stand in front of the site, each appending to X-Forwarded-For. 0: the
# client is REMOTE_ADDR and the header is ignored (anyone can send it). The throttles (API and
# pages) and django-axes all take the address from webapp.throttling.client_address.
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0, minimum=0, maximum=10)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "webapp",
    "ingestion",
    "search",
    "moderation",
    "bench",  # `manage.py bench`, `bench_duplicates`, `bench_abuse`; no app imports it
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside WhiteNoise and every refusal, so static files and error pages get their policy too.
    "webapp.middleware.ContentSecurityPolicyMiddleware",
    # Before anything reads the body: an oversized one is refused from its Content-Length.
    "webapp.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # English or 简体中文 from the switcher's cookie, else Accept-Language; the API stays English.
    "webapp.i18n.PageLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Page doors share the API's throttles (in process_view: after CSRF, before the view).
    "webapp.middleware.PageThrottleMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webapp.errors.UserFacingErrorMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webapp.context_processors.site",
            ],
        },
    },
]

SQLITE_PATH = DATA_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(env_str("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"), conn_max_age=60)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, workers and commands share one SQLite file: WAL lets readers run beside a writer,
    # IMMEDIATE transactions plus a busy timeout turn lock contention into waiting, not errors.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_PATH", str(DATA_DIR / "test_db.sqlite3"))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery"
LOGOUT_REDIRECT_URL = "gallery"

LANGUAGE_CODE = "en"
# The interface's languages (locale/<code>/LC_MESSAGES: compiled by `make install` / `compilemessages`).
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # the switcher's choice outlives the session
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True  # no script reads it
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Pages and the API serve media through permission-checked views, never as public files.
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
# Stored files are their owner's alone (originals may be private). Django chmods every file it saves
# (media and collected static) to these, whatever the umask `make run` sets.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Upload limits: checked before and while decoding, so a hostile file cannot exhaust memory.
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1)
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 100_000_000, minimum=1)
MAX_FILES_PER_UPLOAD = env_int("MAX_FILES_PER_UPLOAD", 200, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = MAX_FILES_PER_UPLOAD
# Every other body (forms, JSON): refused from its Content-Length by webapp.middleware (413).
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=1024)
MAX_JSON_BYTES = env_int("MAX_JSON_BYTES", 256 * 1024, minimum=1024)
MAX_JSON_DEPTH = env_int("MAX_JSON_DEPTH", 32, minimum=2)
# Example images of a search: decoded at a bounded size (JPEG draft), refused above this many
# pixels (PNG and others have no reduced decode), sent to the query worker at most this side.
MAX_QUERY_IMAGE_PIXELS = env_int("MAX_QUERY_IMAGE_PIXELS", 25_000_000, minimum=1)
QUERY_IMAGE_SIDE = env_int("QUERY_IMAGE_SIDE", 1024, minimum=64)
# Large decodes at once per process (search examples on the web side and query worker, ingest).
HEAVY_DECODES_PER_PROCESS = env_int("HEAVY_DECODES_PER_PROCESS", 2, minimum=1)
# Disk all kept search examples may use together (search/query/examples.py); past it the oldest go first.
SEARCH_EXAMPLES_MAX_BYTES = env_int("SEARCH_EXAMPLES_MAX_MB", 500, minimum=1) * 1024 * 1024
THUMBNAIL_SIZE = env_int("THUMBNAIL_SIZE", 384, minimum=1)

# Model and vectors.
CLIP_MODEL = env_str("CLIP_MODEL", "openai/clip-vit-base-patch32")
CLIP_DEVICE = env_str("CLIP_DEVICE") or None  # None: CUDA when available
MODEL_CACHE_DIR = Path(env_str("MODEL_CACHE_DIR") or DATA_DIR / "models").resolve()
ENCODE_BATCH_SIZE = env_int("ENCODE_BATCH_SIZE", 32, minimum=1)
# Threads, chosen so the processes `make run` starts do not oversubscribe the cores this process may
# use (its affinity: a container or taskset limit, not the machine's count). The ingest worker's
# torch gets half of them (the other half prepare the next batch and read words); the query
# worker's torch one per request, several requests running at once (its Celery concurrency): on
# 2 busy cores 2 torch threads made text encoding 4x slower than 1. 0 keeps torch's default.
CPU_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
TORCH_NUM_THREADS = env_int("TORCH_NUM_THREADS", max(1, CPU_CORES // 2), minimum=0)
QUERY_TORCH_THREADS = env_int("QUERY_TORCH_THREADS", 1, minimum=0)
# Threads that decode, thumbnail and hash images beside the encoder in the ingest worker.
PREPARE_THREADS = env_int("PREPARE_THREADS", min(8, CPU_CORES), minimum=1)
# Threads that run the model's own image processor on chunks of a batch (identical output).
PREPROCESS_THREADS = env_int("PREPROCESS_THREADS", min(8, CPU_CORES), minimum=1)
# Beside a live `make run`, manage.py's prepare() sets these to its servers' addresses.
MILVUS_URI = env_str("MILVUS_URI", str(DATA_DIR / "milvus.db"))
MILVUS_TOKEN = env_str("MILVUS_TOKEN")
HNSW_M = env_int("HNSW_M", 16, minimum=2)
HNSW_EF_CONSTRUCTION = env_int("HNSW_EF_CONSTRUCTION", 200, minimum=1)
HNSW_EF = env_int("HNSW_EF", 128, minimum=1)

# Queues: searches go to their own queue so an ingest backlog never delays them.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
INGEST_QUEUE = "ingest"
QUERY_QUEUE = "query"
QUERY_TIMEOUT = env_float("QUERY_TIMEOUT", 10.0, minimum=0.1)
SEARCH_MAX_LIMIT = env_int("SEARCH_MAX_LIMIT", 200, minimum=1)
SEARCH_DEFAULT_LIMIT = env_int("SEARCH_DEFAULT_LIMIT", 50, minimum=1)
# sort=date orders this many best candidates of each side (the whole result set), then pages them.
SEARCH_SORT_WINDOW = env_int("SEARCH_SORT_WINDOW", 1000, minimum=1)
# OCR runs after indexing on its own queue, served by its own worker (launcher: `make run`).
OCR_QUEUE = "ocr"
OCR_ENABLED = env_bool("OCR_ENABLED", True)
OCR_MAX_SIDE = env_int("OCR_MAX_SIDE", 1600, minimum=64)  # the working size: longer sides are scaled down
# onnxruntime intra-op threads of the OCR worker (its own process: reading never delays indexing).
OCR_THREADS = env_int("OCR_THREADS", max(1, CPU_CORES // 4), minimum=1)
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 32, minimum=1)
# An indexing task short of a batch waits this long for uploads still arriving (search.pipeline.draining).
INGEST_BATCH_WAIT_MS = env_int("INGEST_BATCH_WAIT_MS", 200, minimum=0)
# Copies (`search.query.copies`, the one judgement for the duplicates endpoint, search, the queue and
# the bans): the same bytes; PDQ variants within the match distance (HMA's 31; the earlier name
# MODERATION_PDQ_DISTANCE is still read); CLIP cosine >= NEAR_DUPLICATE_SCORE where the model can
# judge, and "similar" above DUPLICATE_MIN_SCORE. DUPLICATE_SEMANTIC: auto (off for the
# random-weight demo model), on, or off (MODERATION_SEMANTIC=0, the earlier switch, means off).
# Unset (None): each model family's own (search.engines.encoder.families: CLIP 0.90 and 0.99; SigLIP's
# sigmoid-trained cosines sit lower); set, they hold for every family.
DUPLICATE_MIN_SCORE = env_float("DUPLICATE_MIN_SCORE", 0.0) if env_str("DUPLICATE_MIN_SCORE") else None
NEAR_DUPLICATE_SCORE = env_float("NEAR_DUPLICATE_SCORE", 0.0) if env_str("NEAR_DUPLICATE_SCORE") else None
_EARLIER_PDQ_DISTANCE = env_int("MODERATION_PDQ_DISTANCE", 31, minimum=0, maximum=255)
PDQ_MATCH_DISTANCE = env_int("PDQ_MATCH_DISTANCE", _EARLIER_PDQ_DISTANCE, minimum=0, maximum=255)
PDQ_MIN_QUALITY = env_int("PDQ_MIN_QUALITY", 50, minimum=0)
DUPLICATE_SEMANTIC = env_str("DUPLICATE_SEMANTIC", "auto" if env_bool("MODERATION_SEMANTIC", True) else "off")
if DUPLICATE_SEMANTIC not in ("auto", "on", "off"):
    raise ImproperlyConfigured(f"DUPLICATE_SEMANTIC must be one of auto, on, off, got {DUPLICATE_SEMANTIC!r}")
# Suggested labels (`search.pipeline.labels`: each image scored against an everyday vocabulary, English and
# Chinese). LABELS: auto (off for the random-weight demo models, whose scores mean nothing), on, off.
# LABEL_MIN_SCORE unset: each model family's floor (CLIP 0.26, SigLIP 0.09); set, it holds for all.
LABELS = env_str("LABELS", "auto")
if LABELS not in ("auto", "on", "off"):
    raise ImproperlyConfigured(f"LABELS must be one of auto, on, off, got {LABELS!r}")
LABEL_MIN_SCORE = env_float("LABEL_MIN_SCORE", 0.0) if env_str("LABEL_MIN_SCORE") else None
# An upload against a ban: the default of each bank's own distance. CSV import bounds.
BAN_PDQ_DISTANCE = env_int("BAN_PDQ_DISTANCE", 31, minimum=0, maximum=255)
MODERATION_IMPORT_MAX_BYTES = env_int("MODERATION_IMPORT_MAX_BYTES", 2_000_000, minimum=1)
MODERATION_IMPORT_MAX_ROWS = env_int("MODERATION_IMPORT_MAX_ROWS", 20_000, minimum=1)
# `find_duplicates` joins all hashes in memory: the faster index layout only while it fits here.
RESCAN_INDEX_MAX_MB = env_int("RESCAN_INDEX_MAX_MB", 2048, minimum=16)
# Deleted images (by their owner, or by a moderator's resolve) wait this long in the trash, where
# they can be restored, before the purge (beat, hourly; `manage.py purge_trash`) deletes them.
TRASH_DAYS = env_int("TRASH_DAYS", 30, minimum=0, maximum=3650)
# A pending image older than this with no worker progress is re-queued by `reconcile`.
PENDING_REQUEUE_SECONDS = env_int("PENDING_REQUEUE_SECONDS", 300, minimum=0)

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A dead Redis must fail an upload's enqueue or a search within seconds, not hang: the upload stays
# pending (re-queued later) and the search answers 503.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": 3,
    "socket_timeout": 10,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 3
CELERY_REDIS_SOCKET_TIMEOUT = 30
CELERY_TASK_DEFAULT_QUEUE = INGEST_QUEUE
CELERY_TASK_ROUTES = {
    "search.tasks.index_images": {"queue": INGEST_QUEUE},
    "search.tasks.reconcile": {"queue": INGEST_QUEUE},
    "search.tasks.rehash_images": {"queue": INGEST_QUEUE},
    "search.tasks.label_images": {"queue": INGEST_QUEUE},
    "search.tasks.embed_*": {"queue": QUERY_QUEUE},
    "search.tasks.ocr_images": {"queue": OCR_QUEUE},
    "moderation.tasks.*": {"queue": INGEST_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    "reconcile": {"task": "search.tasks.reconcile", "schedule": 600.0},
    # Images left pending by a failed enqueue (Redis down) are queued within a minute of its return.
    "purge-trash": {"task": "ingestion.tasks.purge_trash", "schedule": 3600.0},
    # Retroactive ban matches a crash or a lost message left behind (moderation.rescans).
    "resume-rescans": {"task": "moderation.tasks.resume_rescans", "schedule": 300.0},
    "requeue-unqueued": {
        "task": "search.tasks.requeue_unqueued",
        "schedule": 30.0,
        "options": {"queue": QUERY_QUEUE, "expires": 30},
    },
}

# Throttling (webapp.throttling): per signed-in user or per IP, and '<scope>_ip' per IP whoever
# is signed in. DRF's rate syntax: N/s, N/min, N/hour, N/day.
THROTTLE_RATES = {
    "auth": env_str("THROTTLE_AUTH", "10/min"),
    "auth_ip": env_str("THROTTLE_AUTH_IP", "30/min"),
    "signup": env_str("THROTTLE_SIGNUP", "5/hour"),
    "signup_ip": env_str("THROTTLE_SIGNUP_IP", "10/hour"),
    "search": env_str("THROTTLE_SEARCH", "120/min"),
    "search_ip": env_str("THROTTLE_SEARCH_IP", "300/min"),
    "search_image": env_str("THROTTLE_SEARCH_IMAGE", "20/min"),
    "search_image_ip": env_str("THROTTLE_SEARCH_IMAGE_IP", "60/min"),
    "upload": env_str("THROTTLE_UPLOAD", "600/hour"),
    "upload_ip": env_str("THROTTLE_UPLOAD_IP", "1200/hour"),
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Shared by every web process; webapp.throttling falls back to "default" while it is down.
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "throttle",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    },
}
# django-axes: sign-ins refused after AXES_FAILURE_LIMIT failures for one account from one address.
AUTHENTICATION_BACKENDS = ["webapp.lockout.LockoutBackend"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_MINUTES", 15.0, minimum=0.1) / 60  # hours, as axes counts
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "webapp.lockout.locked_out"
AXES_CLIENT_IP_CALLABLE = "webapp.throttling.client_address"  # the throttles' address, proxies and all
AXES_VERBOSE = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON only: the browsable API's forms assume generic views (its filter form crashed on
    # /api/images/); /api/docs/ is the API to browse in a browser.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "webapp.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "webapp.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["webapp.throttling.ScopedThrottle", "webapp.throttling.ScopedIPThrottle"],
    # Only for DRF's own get_ident (ours use client_address): never the client's whole header.
    "NUM_PROXIES": TRUSTED_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Image search API",
    "DESCRIPTION": "Upload images, search them by text or by example image.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two models have a field called "status": give each choice set its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "ImageStatusEnum": "ingestion.models.Image.Status",
        "GroupStatusEnum": "moderation.models.Group.Status",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
