"""Local development: `make run`. Debug on, demo data allowed, no configuration needed."""

from .base import *  # noqa: F403
from .base import env, mail_settings

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A key for local use only; production refuses to start without DJANGO_SECRET_KEY.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-only-insecure-key-do-not-use-in-production")
DEMO_DATA_ALLOWED = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Mail is printed in the console unless EMAIL_URL says otherwise, so a password reset works locally.
EMAIL_URL = env.str("EMAIL_URL", default="consolemail://")
globals().update(mail_settings(EMAIL_URL))
# Member emails and the join poster link to the site `make run` serves.
LOYALTY_SITE_URL = env("LOYALTY_SITE_URL", default=f"http://127.0.0.1:{env('PORT', default='8000')}")
