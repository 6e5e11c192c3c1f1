"""Production: refuses to start without DJANGO_SECRET_KEY; passes `manage.py check --deploy` clean."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import EMAIL_URL, env

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
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)  # noqa: F405
# The health check answers a load balancer over plain HTTP on the private side of the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Mail, when configured, goes out from a real address.
if EMAIL_URL and not env.str("DEFAULT_FROM_EMAIL", default=""):
    raise ImproperlyConfigured("EMAIL_URL is set: set DEFAULT_FROM_EMAIL too (the sender of password reset mail).")
