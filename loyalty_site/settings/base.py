"""Settings shared by every environment. Every knob is read from the environment here."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A `.env` file beside manage.py is optional: local use needs no configuration at all.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default=None)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Whether `load_demo_data` may run. Only the local settings turn this on; production forces it off.
DEMO_DATA_ALLOWED = False

INSTALLED_APPS = [
    "django.contrib.admin",
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
    "events",
    "customers",
    "transactions",
    "rewards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a sign-in unless its view is marked with @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

LANGUAGE_CODE = env("DJANGO_LANGUAGE_CODE", default="en-us")
# The merchant's time zone: it decides which calendar month a purchase belongs to.
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

DJANGO_TABLES2_TEMPLATE = "django_tables2/semantic.html"

# The currency the program counts whole units of (display only: amounts are plain decimals).
LOYALTY_CURRENCY = env("LOYALTY_CURRENCY", default="USD")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    # The worker's own lines once (run_huey adds a handler of its own only to a logger without one).
    "loggers": {"huey": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
# The largest single transaction amount accepted anywhere (till, admin, import).
LOYALTY_MAX_AMOUNT = env.str("LOYALTY_MAX_AMOUNT", default="1000000.00")
# A transaction may be dated this many seconds after the server's clock (a till's clock running ahead);
# any later moment is refused as in the future.
LOYALTY_CLOCK_SKEW_SECONDS = env.int("LOYALTY_CLOCK_SKEW_SECONDS", default=120)

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
