"""Settings for gunicorn under bench/chain.py: production's, with the baseline view's URLs added, served over
plain HTTP on 127.0.0.1 (no proxy in front: no HTTPS redirect, cookies sent without the Secure flag).

Never used by the product: only bench/chain.py starts gunicorn with it (DJANGO_SETTINGS_MODULE).
"""

from loyalty_site.settings.production import *  # noqa: F403

# The project's URLs and the baseline view (bench/chain_urls.py).
ROOT_URLCONF = "bench.chain_urls"
# The load client talks to gunicorn directly over plain HTTP on loopback, as nginx does in production; with
# these on, every request would be redirected to https:// and the cookies never sent back.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
