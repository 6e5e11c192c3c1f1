"""Settings shared by every environment. Every knob is read from the environment here."""

import logging
import os
from datetime import timedelta
from pathlib import Path

import environ
import phonenumbers
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from ops.setup import configure_structlog, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A `.env` file beside manage.py is optional: local use needs no configuration at all. In production the
# environment file is /etc/loyalty/env, which systemd hands to the site's processes and deploy/manage.sh names
# here (LOYALTY_ENV_FILE) for commands run by hand. What the environment already holds wins.
environ.Env.read_env(os.environ.get("LOYALTY_ENV_FILE") or BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default=None)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Whether `load_demo_data` may run. Only the local settings turn this on; production forces it off.
DEMO_DATA_ALLOWED = False

INSTALLED_APPS = [
    "loyalty_site.admin_site.LoyaltyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so `runserver` serves static files through whitenoise as production does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "django_tables2",
    # The background worker: tasks.py modules of the apps, consumed by `manage.py run_huey`.
    "huey.contrib.djhuey",
    # Logs, metrics and backups (README: "Production"); before the apps whose gauges it serves.
    "ops",
    "events",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "auditlog",
    "customers",
    "transactions",
    "rewards",
    "members",
    "webhooks",
    "imports",
    # After auditlog: the audit trail is auditlog's log entry model, and its admin replaces auditlog's.
    "audit",
    "accounts",
    # The JSON API (/api/v1/): Django REST framework, its OpenAPI document (drf-spectacular) and Swagger UI
    # from our own static files (the sidecar).
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
]

MIDDLEWARE = [
    # Counts and times every request (django-prometheus): first and (nearly) last, around everything else.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # The request's log line and id (ops.request_log): outermost but one, so every line logged carries the id.
    "ops.request_log.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # With a read replica: a browser that posted a form reads the primary for a few seconds (ops.replica).
    "ops.replica.PrimaryAfterWriteMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session entered a two-factor code.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Signs a session out after LOYALTY_SESSION_IDLE_MINUTES without a request (shared till terminals).
    "accounts.middleware.IdleTimeoutMiddleware",
    # Owners and managers: the two-factor code after the password, and enrolment first where required.
    "accounts.middleware.TwoFactorMiddleware",
    # Every page needs a sign-in unless its view is marked with @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Who and from which address, on every audit event written during the request.
    "audit.middleware.AuditMiddleware",
    # Labels each request with its view and counts its response's status, after axes has had its say.
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the sign-in page with the lockout message.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out username or address before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "loyalty_site.urls"
WSGI_APPLICATION = "loyalty_site.wsgi.application"

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
                "loyalty_site.context_processors.roles",
            ],
            # Filters every template may use without {% load %}: money, points, signed_points.
            "builtins": ["loyalty_site.formatting"],
        },
    },
]

# SQLite in the project folder by default; PostgreSQL (psycopg 3) with e.g.
# DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the till and a report read while an import writes.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    DATABASES["default"]["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL;")

# A PostgreSQL streaming replica of the primary (README: "Read replica"), e.g.
# DATABASE_REPLICA_URL=postgres://loyalty:PASSWORD@10.0.0.3:5432/loyalty. The reports, exports and the simulator
# read from it (views marked @reads_from_replica); everything else, and every write, uses the primary
# (ops.replica.ReplicaRouter). Unset: everything on the primary. A browser that posted a form reads the
# primary for DATABASE_REPLICA_PIN_SECONDS after (0: never pinned), so it sees what it just saved.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
DATABASE_REPLICA_PIN_SECONDS = env.int("DATABASE_REPLICA_PIN_SECONDS", default=15)


def replica_database(url: str, primary: dict) -> dict:
    replica = env.db_url_config(url)
    if replica["ENGINE"] != "django.db.backends.postgresql" or primary["ENGINE"] != replica["ENGINE"]:
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL names a PostgreSQL streaming replica (postgres://...) of a PostgreSQL "
            "DATABASE_URL; leave it unset otherwise."
        )
    replica["ATOMIC_REQUESTS"] = False
    replica["CONN_MAX_AGE"] = primary["CONN_MAX_AGE"]
    # A replica that does not answer costs a report a few seconds, then it reads the primary (ops.replica).
    replica.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    return replica


if DATABASE_REPLICA_URL:
    DATABASES["replica"] = replica_database(DATABASE_REPLICA_URL, DATABASES["default"])
    DATABASE_ROUTERS = ["ops.replica.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "customers:home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in protection (django-axes): after LOYALTY_SIGN_IN_FAILURE_LIMIT failures, a username is locked
# (from any address) and so is an address (for any username), for LOYALTY_SIGN_IN_LOCKOUT_MINUTES; each
# further failure while locked starts the cool-off again. Owners unlock on the accounts page.
AXES_FAILURE_LIMIT = env.int("LOYALTY_SIGN_IN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOYALTY_SIGN_IN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
# Successful sign-ins are in the audit trail. Never reset failures on a success: an attacker with an
# account of their own would wipe their address's count by signing in to it.
AXES_DISABLE_ACCESS_LOG = True
AXES_RESET_ON_SUCCESS = False
AXES_VERBOSE = False
# Behind N trusted proxies (LOYALTY_PROXY_COUNT), the client is the address the outermost of ours saw: the
# right-most entries of X-Forwarded-For are the proxies' own; anything to their left the client can forge.
LOYALTY_PROXY_COUNT = env.int("LOYALTY_PROXY_COUNT", default=0)
AXES_IPWARE_PROXY_COUNT = LOYALTY_PROXY_COUNT or None
AXES_IPWARE_PROXY_ORDER = "right-most"
AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if LOYALTY_PROXY_COUNT else ("REMOTE_ADDR",)

# Two-factor sign-in (django-otp, time-based codes) for owners and managers. Anyone enrolled enters a code
# at every sign-in; with LOYALTY_REQUIRE_2FA on, owners and managers must enrol before anything else.
LOYALTY_REQUIRE_2FA = env.bool("LOYALTY_REQUIRE_2FA", default=False)
OTP_TOTP_ISSUER = env("LOYALTY_TWO_FACTOR_ISSUER", default="Loyalty")

# Shared till terminals: a session ends after this many minutes without a request (0: never) and, by
# default, when the browser closes. The stored session outlives the idle limit by a few minutes only.
LOYALTY_SESSION_IDLE_MINUTES = env.int("LOYALTY_SESSION_IDLE_MINUTES", default=30)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("DJANGO_SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
SESSION_COOKIE_AGE = (LOYALTY_SESSION_IDLE_MINUTES + 5) * 60 if LOYALTY_SESSION_IDLE_MINUTES else 60 * 60 * 24 * 14

# Several web machines behind a load balancer (README: "More machines") share what one process writes and
# another reads. Sessions: in the database ("db", the default) or "cached_db" (the database, read through
# the cache). The cache (CACHE_URL, django-environ): where cached sessions live and whatever later counts in
# the cache, so in production it must be shared (the API's rate per key counts in the database, on the key's
# row, and django-axes's failures too): the database (dbcache://TABLE, the default
# there) or Redis (redis://host:6379/1). Local memory (locmemcache://, the local default) is one process's.
SESSION_STORES = {
    "db": "django.contrib.sessions.backends.db",
    "cached_db": "django.contrib.sessions.backends.cached_db",
}
SHARED_CACHE_BACKENDS = (
    "django.core.cache.backends.db.DatabaseCache",
    "django.core.cache.backends.redis.RedisCache",
)


def cache_settings(url: str) -> dict:
    config = env.cache_url_config(url)
    # django-environ lower-cases ?timeout= and ?key_prefix= for Django's own Redis backend, which reads them
    # upper-case only (they would be ignored).
    for name in ("timeout", "key_prefix", "version"):
        if name in config:
            config[name.upper()] = config.pop(name)
    return {"default": config}


def session_engine(store: str) -> str:
    if store not in SESSION_STORES:
        raise ImproperlyConfigured(f"DJANGO_SESSION_STORE must be one of {', '.join(SESSION_STORES)}, not {store!r}.")
    return SESSION_STORES[store]


CACHES = cache_settings(env.str("CACHE_URL", default="locmemcache://"))
SESSION_ENGINE = session_engine(env.str("DJANGO_SESSION_STORE", default="db"))


def mail_settings(url: str) -> dict:
    """Mail from EMAIL_URL (smtp+tls://user:password@host:587, consolemail://...). Without one, nothing can
    be sent: the password reset page says so instead of pretending."""
    if not url:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "LOYALTY_PASSWORD_RESET_BY_MAIL": False,
        }
    return {**env.email_url_config(url), "LOYALTY_PASSWORD_RESET_BY_MAIL": True}


EMAIL_URL = env.str("EMAIL_URL", default="")
globals().update(mail_settings(EMAIL_URL))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="loyalty@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# The audit trail is django-auditlog's log entry model, extended (audit.models.AuditEvent); changes are
# stored as JSON values (a number stays a number), the actor and address come from audit.middleware.
AUDITLOG_LOGENTRY_MODEL = "audit.AuditEvent"
AUDITLOG_STORE_JSON_CHANGES = True
# auditlog's own migrations only create its default log entry table, which ours replaces: without them no
# unused table (with a foreign key to users that PostgreSQL's TRUNCATE between tests would trip on).
MIGRATION_MODULES = {"auditlog": None}

# Content-Security-Policy (django-csp): scripts and styles from our own files only, never inline; no
# framing, no plugins, forms post to us only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

LANGUAGE_CODE = env("DJANGO_LANGUAGE_CODE", default="en-us")
# The merchant's time zone: it decides which calendar month a purchase belongs to.
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` writes the files the proxy serves (deploy/nginx/loyalty.conf) and whitenoise falls back to.
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

DJANGO_TABLES2_TEMPLATE = "django_tables2/semantic.html"

# The currency the program counts whole units of (display only: amounts are plain decimals).
LOYALTY_CURRENCY = env("LOYALTY_CURRENCY", default="USD")

# Logs (README: "Logs, metrics and errors"): every line on standard error, one line per request and per task,
# each carrying the request id (or the task's name and id) and the user; a console line for a person, or one
# JSON object a line for a log shipper (DJANGO_LOG_FORMAT=json, the production default).
configure_structlog()
LOGGING = logging_config(env("DJANGO_LOG_FORMAT", default="console"), env("DJANGO_LOG_LEVEL", default="INFO"))
# django-structlog: keep a proxy's or client's X-Request-ID (ops.request_log checks its form); the client's
# address is ours to bind (behind LOYALTY_PROXY_COUNT proxies, as axes counts it); `request_started` goes to
# DEBUG so that a request is one line, `request_finished`.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG

# Metrics (ops.metrics): `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>`; without a token only a
# direct client on this machine may read it. A worker serves its own on TASK_METRICS_PORT (unset: none).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
TASK_METRICS_PORT = env.int("TASK_METRICS_PORT", default=None)
TASK_METRICS_ADDRESS = env.str("TASK_METRICS_ADDRESS", default="127.0.0.1")

# The largest single transaction amount accepted anywhere (till, admin, import).
LOYALTY_MAX_AMOUNT = env.str("LOYALTY_MAX_AMOUNT", default="1000000.00")
# A transaction may be dated this many seconds after the server's clock (a till's clock running ahead);
# any later moment is refused as in the future.
LOYALTY_CLOCK_SKEW_SECONDS = env.int("LOYALTY_CLOCK_SKEW_SECONDS", default=120)
# The region a phone number typed without a country code belongs to (ISO 3166 code: US, GB, DE...).
LOYALTY_PHONE_REGION = env("LOYALTY_PHONE_REGION", default="US").upper()
if LOYALTY_PHONE_REGION not in phonenumbers.SUPPORTED_REGIONS:
    raise ImproperlyConfigured(f"LOYALTY_PHONE_REGION={LOYALTY_PHONE_REGION!r} is not a region code like US or GB.")
# The till asks before recording a second purchase of the same amount for the same customer within this
# many minutes (a cashier who pressed Record on the last sale again); 0 never asks.
LOYALTY_REPEAT_PURCHASE_MINUTES = env.int("LOYALTY_REPEAT_PURCHASE_MINUTES", default=5)

# The members' side (members app). Absolute links in member emails and on the printed join poster start with
# LOYALTY_SITE_URL (default: this machine's `make run` locally, https://<first allowed host> in production).
LOYALTY_SITE_URL = env("LOYALTY_SITE_URL", default="")
# A member stays signed in on a phone this many days (a signed cookie of its own, not the staff session).
LOYALTY_MEMBER_SESSION_DAYS = env.int("LOYALTY_MEMBER_SESSION_DAYS", default=90)
# An emailed sign-in link works once, for this many minutes; a join confirmation link for this many hours.
LOYALTY_MEMBER_SIGN_IN_MINUTES = env.int("LOYALTY_MEMBER_SIGN_IN_MINUTES", default=15)
LOYALTY_JOIN_CONFIRM_HOURS = env.int("LOYALTY_JOIN_CONFIRM_HOURS", default=48)
# Throttles of the public members' pages, per hour: join and sign-in requests (and links that do not work)
# from one client address; emails asked for one email address.
LOYALTY_MEMBER_ATTEMPTS_PER_HOUR = env.int("LOYALTY_MEMBER_ATTEMPTS_PER_HOUR", default=30)
LOYALTY_MEMBER_MAILS_PER_HOUR = env.int("LOYALTY_MEMBER_MAILS_PER_HOUR", default=3)

# The JSON API (/api/v1/). Each key's rate: calls per second, minute, hour or day ("300/minute").
LOYALTY_API_RATE = env("LOYALTY_API_RATE", default="300/minute")
# How long the answer to a POST with an Idempotency-Key is kept for retries (forgotten daily after that).
LOYALTY_API_IDEMPOTENCY_DAYS = env.int("LOYALTY_API_IDEMPOTENCY_DAYS", default=7)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # ?format=... does not choose a renderer: the Accept header does (text/csv for a report).
    "URL_FORMAT_OVERRIDE": None,
    # NaN and Infinity are not JSON: refused as a malformed body.
    "STRICT_JSON": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty API",
    "DESCRIPTION": (
        "Record purchases, refunds and redemptions and read balances from the shop's other systems. "
        "Authenticate with `Authorization: Bearer <key>`. Amounts are decimal strings (\"120.00\"), moments "
        "ISO 8601 with an offset, customers are named by member number and stores by code. Every POST accepts "
        "an `Idempotency-Key`. Errors are `application/problem+json` (RFC 9457)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_problems_and_idempotency",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The background worker's queue (huey; `manage.py run_huey` consumes it). TASK_QUEUE_URL says where it lives:
# - unset with SQLite: an SQLite file beside manage.py, so `make run` needs no extra service;
# - unset with PostgreSQL: the same PostgreSQL database as the data (tables huey_*), so workers on other
#   machines share one queue (jobs are taken with SELECT ... FOR UPDATE SKIP LOCKED: each runs once);
# - redis://host:6379/0 for Redis, postgres://... for another PostgreSQL, sqlite:////path/file for a file.
# Periodic jobs (the daily ones in rewards/tasks.py) run in the merchant's TIME_ZONE (utc=False: Django sets
# the process's TZ to TIME_ZONE).
TASK_QUEUE_URL = env("TASK_QUEUE_URL", default="")


def _task_queue(url: str, database: dict) -> dict:
    if not url and database["ENGINE"] == "django.db.backends.postgresql":
        url = env("DATABASE_URL")
    if url.startswith(("postgres://", "postgresql://")):
        # The tables are created by `manage.py migrate` (rewards migration), not by every process at start-up.
        return {
            "huey_class": "huey.PostgresHuey",
            "dsn": url.replace("postgres://", "postgresql://", 1),
            "create_tables": False,
        }
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {"huey_class": "huey.RedisHuey", "url": url}
    filename = url.removeprefix("sqlite:///") if url else str(BASE_DIR / "huey.sqlite3")
    return {"huey_class": "huey.SqliteHuey", "filename": filename}


HUEY = {
    "name": "loyalty",
    **_task_queue(TASK_QUEUE_URL, DATABASES["default"]),
    "immediate": False,
    "utc": False,
    # Results are not read by anyone: tasks write what they do to the database.
    "results": False,
    "consumer": {"workers": env.int("TASK_WORKERS", default=2), "worker_type": "thread"},
}

# Webhooks (README, "Webhooks"). Each step of a delivery (connect, send, answer) waits at most the timeout; a
# failed delivery is retried with exponential back-off for the retry hours, then marked failed.
LOYALTY_WEBHOOK_TIMEOUT_SECONDS = env.float("LOYALTY_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
LOYALTY_WEBHOOK_RETRY_HOURS = env.int("LOYALTY_WEBHOOK_RETRY_HOURS", default=24)
# Endpoint URLs: https only, and whether endpoints may be non-public addresses (loopback, private ranges,
# link-local). Locally anything goes (a receiver on 127.0.0.1); production refuses both by default.
LOYALTY_WEBHOOK_REQUIRE_HTTPS = env.bool("LOYALTY_WEBHOOK_REQUIRE_HTTPS", default=False)
LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=True)

# Imports from the browser: the largest file accepted at upload, in megabytes (a million rows is about 60).
LOYALTY_IMPORT_MAX_UPLOAD_MB = env.int("LOYALTY_IMPORT_MAX_UPLOAD_MB", default=100)
