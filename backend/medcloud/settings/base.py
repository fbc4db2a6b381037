"""Settings shared by every environment. Configuration and secrets come from the environment only.

A local `.env` (written by `make run` on first run) is read without overriding real variables.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BACKEND_DIR = Path(__file__).resolve().parents[2]
REPO_ROOT = BACKEND_DIR.parent


def _load_dotenv(path: Path) -> None:
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            os.environ.setdefault(key.strip(), value.strip())


_load_dotenv(REPO_ROOT / ".env")


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name) or default
    if value is None:
        raise ImproperlyConfigured(f"Set the environment variable {name} (see scripts/environment.defaults)")
    return value


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "djoser",
    "social_django",
    "medcloud.core",
    "medcloud.crypto",
    "medcloud.audit",
    "medcloud.accounts",
    "medcloud.pacs",
    "medcloud.sharing",
    "medcloud.inference",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "medcloud.core.static.AsyncWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "medcloud.urls"
ASGI_APPLICATION = "medcloud.asgi.application"
WSGI_APPLICATION = "medcloud.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BACKEND_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Empty DATABASE_URL / REDIS_URL mean the project-local servers that scripts/services.sh starts.
DATABASE_URL = env("DATABASE_URL", f"postgres://postgres@127.0.0.1:{env('MEDCLOUD_PG_PORT', '55432')}/medcloud")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["OPTIONS"] = {"connect_timeout": 5}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_REDIS_AUTH = f":{os.environ['REDIS_PASSWORD']}@" if os.environ.get("REDIS_PASSWORD") else ""
REDIS_URL = env("REDIS_URL", f"redis://{_REDIS_AUTH}127.0.0.1:{env('MEDCLOUD_REDIS_PORT', '56379')}/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # JSON, not pickle: a value read from Redis must never be able to run code here (core/cache.py)
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2,
                    "serializer": "medcloud.core.cache.JSONSerializer"},
    }
}

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BACKEND_DIR / "staticfiles"
# The single-page app's build is served from the same origin as the API (no CORS anywhere).
FRONTEND_DIST = Path(env("MEDCLOUD_FRONTEND_DIST", str(REPO_ROOT / "frontend" / "dist")))
WHITENOISE_ROOT = FRONTEND_DIST if FRONTEND_DIST.exists() else None
WHITENOISE_INDEX_FILE = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(env("MEDCLOUD_MEDIA_ROOT", str(REPO_ROOT / ".var" / "media")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Personal API tokens ("Bearer mct_..." or "Token mct_...") first, then browser JWTs (revocable).
        "medcloud.accounts.authentication.ApiTokenAuthentication",
        "medcloud.accounts.authentication.RevocableJWTAuthentication",
    ],
    # Deny by default: every endpoint needs an authenticated user unless it says otherwise.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "medcloud.core.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,  # a refresh token works once; logout blacklists it
    "UPDATE_LAST_LOGIN": False,  # the accounts services record sign-ins in the audit log
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_REFRESH_SERIALIZER": "medcloud.accounts.authentication.SessionAgeRefreshSerializer",
}
# However often it is refreshed, a browser session ends this long after sign-in (default 12 hours).
MEDCLOUD_SESSION_MAX_SECONDS = int(env("MEDCLOUD_SESSION_MAX_SECONDS", str(12 * 3600)))

SPECTACULAR_SETTINGS = {
    "TITLE": "MedCloud API",
    "DESCRIPTION": "PACS with AI built in: accounts, patients, studies, DICOMweb, AI models and reports.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "ENUM_NAME_OVERRIDES": {"UserRoleEnum": "medcloud.accounts.models.Role"},
    # /api/docs/ loads Swagger UI from this server (drf-spectacular-sidecar, pinned by pyproject.toml), never
    # from a public CDN: no unpinned third-party script runs with a user's session on this origin, and the
    # page works on a hospital network without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-job leaves the job queued, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

ORTHANC_URL = env("ORTHANC_URL", "http://127.0.0.1:58042")
ORTHANC_USERNAME = env("ORTHANC_USERNAME", "medcloud-backend")
ORTHANC_PASSWORD = env("ORTHANC_PASSWORD")
ORTHANC_TIMEOUT_SECONDS = float(env("ORTHANC_TIMEOUT_SECONDS", "30"))

# PACS uploads: bodies above 2.5 MB stream to temporary files; limits refuse zip bombs and huge bodies.
DATA_UPLOAD_MAX_NUMBER_FILES = int(env("MEDCLOUD_UPLOAD_MAX_FILES", "5000"))
PACS_UPLOAD_MAX_BYTES = int(env("MEDCLOUD_UPLOAD_MAX_BYTES", str(2 * 1024**3)))
PACS_UPLOAD_MAX_FILES = DATA_UPLOAD_MAX_NUMBER_FILES
# Where an upload's files lie for the length of one request (Django's multipart files and the batch folder;
# Django's body spool follows TMPDIR): point both at an encrypted volume in production (runbook).
FILE_UPLOAD_TEMP_DIR = env("MEDCLOUD_UPLOAD_TMP", "") or None
PACS_ZIP_MAX_RATIO = int(env("MEDCLOUD_ZIP_MAX_RATIO", "50"))
PACS_ZIP_MAX_TOTAL_BYTES = int(env("MEDCLOUD_ZIP_MAX_TOTAL_BYTES", str(4 * 1024**3)))
PACS_VIEWER_TOKEN_SECONDS = int(env("MEDCLOUD_VIEWER_TOKEN_SECONDS", "3600"))
# Instances POSTed to Orthanc at once by one upload (pacs.services.orthanc_writers): 1, back to back, suits
# Orthanc 1.10's PostgreSQL index, which serialises writes; more only for an index that takes concurrent writers.
PACS_ORTHANC_WRITERS = int(env("MEDCLOUD_ORTHANC_WRITERS", "1"))
# Worker processes that parse large uploads (pacs.parsing, ADR 0007); below 2, the request's thread parses.
PACS_PARSE_WORKERS = int(env("MEDCLOUD_PARSE_WORKERS", str(min(4, os.cpu_count() or 1))))
# How long one process may reuse a granted DICOMweb read for the same credential and study (pacs/dicomweb/grants.py).
PACS_READ_GRANT_SECONDS = float(env("MEDCLOUD_READ_GRANT_SECONDS", "5"))
# Reconciliation of Orthanc against the database (pacs.services.orthanc_reconcile): an upload's journal older
# than this is replayed (its process died), studies no MedCloud study owns are removed once this old, and how
# often the worker's beat runs it.
PACS_INGEST_STALE_SECONDS = float(env("MEDCLOUD_INGEST_STALE_SECONDS", "3600"))
PACS_ORPHAN_GRACE_SECONDS = float(env("MEDCLOUD_ORPHAN_GRACE_SECONDS", "86400"))
PACS_RECONCILE_INTERVAL_SECONDS = float(env("MEDCLOUD_RECONCILE_INTERVAL_SECONDS", "600"))
# Inference jobs (medcloud.inference): per-user limit of queued + running jobs, attempts when a worker dies
# mid-job, how long a running job may go without a heartbeat before the watchdog sends it again, the worker's
# series cache (in memory, LRU), the sandbox's wall clock, and the hard time limit of one job.
INFERENCE_MAX_ACTIVE_JOBS_PER_USER = int(env("MEDCLOUD_MAX_ACTIVE_JOBS_PER_USER", "3"))
INFERENCE_MAX_ATTEMPTS = int(env("MEDCLOUD_JOB_MAX_ATTEMPTS", "2"))
INFERENCE_STALE_SECONDS = float(env("MEDCLOUD_JOB_STALE_SECONDS", "120"))
INFERENCE_UNCLAIMED_SECONDS = float(env("MEDCLOUD_JOB_UNCLAIMED_SECONDS", "600"))  # queued, no worker took it
INFERENCE_MAX_SENDS = int(env("MEDCLOUD_JOB_MAX_SENDS", "3"))
INFERENCE_SERIES_CACHE_BYTES = int(env("MEDCLOUD_SERIES_CACHE_BYTES", str(512 * 1024**2)))
INFERENCE_SANDBOX_WALL_SECONDS = float(env("MEDCLOUD_SANDBOX_WALL_SECONDS", "600"))
INFERENCE_HARD_TIME_LIMIT_SECONDS = int(env("MEDCLOUD_JOB_TIME_LIMIT_SECONDS", "1800"))
INFERENCE_QUEUE = env("MEDCLOUD_INFERENCE_QUEUE", "celery")
CELERY_BEAT_SCHEDULE = {
    "reconcile-orthanc": {"task": "pacs.reconcile_orthanc", "schedule": PACS_RECONCILE_INTERVAL_SECONDS},
    "reap-inference-jobs": {"task": "inference.reap_jobs", "schedule": 60.0},
}

# Local runs: mail lands in files in a private folder. The console backend printed activation and password-reset
# links (credentials) into the logs. Production: SMTP (settings/production.py).
EMAIL_BACKEND = env("EMAIL_BACKEND", "medcloud.core.mail.PrivateFileEmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(REPO_ROOT / ".var" / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "MedCloud <no-reply@medcloud.local>")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "SAMEORIGIN"
SECURE_REFERRER_POLICY = "same-origin"

# Logs never carry PHI: views log identifiers of our own (primary keys), never patient data.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # httpx logs every request URL at INFO (one line per stored instance): keep it for warnings.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"},
                "httpcore": {"level": "WARNING"}},
}

# Accounts: djoser, social sign-in, two-factor authentication, throttling and lockout (see settings/auth.py).
# Behind the front server (nginx: `make run`, the containers), TLS ends there: trust its X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY") else None

from .auth import *  # noqa: E402,F401,F403
