"""Settings for the test suite (pytest-django). DATABASE_URL picks SQLite or PostgreSQL."""

from ops.setup import configure_structlog

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-key"  # noqa: S105
ALLOWED_HOSTS = ["*"]
DEMO_DATA_ALLOWED = True
# Fast hashing: the tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files from the apps and static/ without collectstatic, as `make run` does.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Nothing is collected in tests: whitenoise serves from the finders and need not look for STATIC_ROOT.
STATIC_ROOT = None
# Background tasks run at once, in the test's process (huey's immediate mode, in memory): a test sees what a
# task did without a worker. Tests of the worker itself start real consumers on a real queue.
HUEY = {"name": "loyalty-test", "huey_class": "huey.MemoryHuey", "immediate": True, "utc": False, "results": False}
# pytest-django sends mail to its test outbox (locmem): password reset by mail works in tests.
LOYALTY_PASSWORD_RESET_BY_MAIL = True
# Fixed for the tests whatever the environment says.
LOYALTY_REQUIRE_2FA = False
AXES_FAILURE_LIMIT = 5
# Member emails link to the test client's host (browser tests set their live server's address).
LOYALTY_SITE_URL = "http://testserver"
# Tests capture log events (structlog.testing.capture_logs): loggers are built anew at each use.
configure_structlog(cache_loggers=False)
# A task that records each job it runs, for the tests of real workers (tests/ops/test_many_workers.py).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.worker_app"]  # noqa: F405
# On SQLite the test database is a file, not memory: tests of the real worker start `manage.py run_huey` in
# another process, which must open the same database. Nothing is synced to disk (a test database need not
# survive a crash), which keeps the file as fast as memory.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}  # noqa: F405
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"  # noqa: F405
# The suite runs on one database: a DATABASE_REPLICA_URL in the environment is for the site, not the tests
# (tests/ops/test_replica.py starts a primary and a streaming replica of its own, and the site on them).
DATABASES.pop("replica", None)  # noqa: F405
DATABASE_ROUTERS = []
