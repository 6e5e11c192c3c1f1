"""Production: refuses to start without DJANGO_SECRET_KEY; passes `manage.py check --deploy` clean."""

from django.core.exceptions import ImproperlyConfigured

from ops.setup import init_error_reporting, logging_config

from .base import *  # noqa: F403
from .base import EMAIL_URL, SHARED_CACHE_BACKENDS, cache_settings, env

DEBUG = False
# No default: a missing key raises ImproperlyConfigured at start-up, and so does an empty one (Django would
# start with it and then fail every request).
SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY.strip():
    raise ImproperlyConfigured("Set the DJANGO_SECRET_KEY environment variable: it is empty.")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
# Member emails and the join poster link here: the first allowed host over HTTPS unless said otherwise.
LOYALTY_SITE_URL = env("LOYALTY_SITE_URL", default=f"https://{ALLOWED_HOSTS[0].lstrip('.')}" if ALLOWED_HOSTS else "")
# Demo accounts and data can never be loaded here, whatever the environment says.
DEMO_DATA_ALLOWED = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
for _database in DATABASES.values():  # noqa: F405 (the primary, and the replica if there is one)
    _database["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
# The health check answers a load balancer over plain HTTP on the private side of the proxy.
# The metrics likewise, to a scraper on the same machine (ops.metrics decides who may read them).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# Mail, when configured, goes out from a real address.
if EMAIL_URL and not env.str("DEFAULT_FROM_EMAIL", default=""):
    raise ImproperlyConfigured("EMAIL_URL is set: set DEFAULT_FROM_EMAIL too (the sender of password reset mail).")

# Logs for a log shipper: one JSON object a line (DJANGO_LOG_FORMAT=console for a person at a terminal).
LOGGING = logging_config(env("DJANGO_LOG_FORMAT", default="json"), env("DJANGO_LOG_LEVEL", default="INFO"))

# Every web process and machine shares one cache: the database's (after `manage.py createcachetable`) unless
# CACHE_URL names Redis. A cache of one process would count each rate limit once per process.
CACHES = cache_settings(env.str("CACHE_URL", default="dbcache://loyalty_cache"))
if CACHES["default"]["BACKEND"] not in SHARED_CACHE_BACKENDS:
    raise ImproperlyConfigured(
        f"CACHE_URL must name a cache every web process shares (dbcache://loyalty_cache or redis://host:6379/1), "
        f"not {CACHES['default']['BACKEND']}."
    )

# Errors to Sentry (or a compatible service) when SENTRY_DSN is set; nothing leaves otherwise.
SENTRY_ENABLED = init_error_reporting(
    env.str("SENTRY_DSN", default=""),
    environment=env.str("SENTRY_ENVIRONMENT", default="production"),
    release=env.str("SENTRY_RELEASE", default="") or None,
    traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    send_pii=env.bool("SENTRY_SEND_PII", default=False),
)
# Webhooks go to public https addresses only, unless the merchant decides otherwise (README, "Webhooks").
LOYALTY_WEBHOOK_REQUIRE_HTTPS = env.bool("LOYALTY_WEBHOOK_REQUIRE_HTTPS", default=True)
LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
