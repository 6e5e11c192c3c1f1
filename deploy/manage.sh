#!/bin/sh
# manage.py as the site runs: the production settings and the environment file /etc/loyalty/env, as the
# site's user. For every command an administrator runs by hand:
#     sudo /srv/loyalty/deploy/manage.sh migrate
#     sudo /srv/loyalty/deploy/manage.sh createsuperuser
set -eu
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=loyalty_site.settings.production
export LOYALTY_ENV_FILE="${LOYALTY_ENV_FILE:-/etc/loyalty/env}"
if [ ! -r "$LOYALTY_ENV_FILE" ] && [ "$(id -u)" != 0 ]; then
    echo "Cannot read $LOYALTY_ENV_FILE: run this with sudo." >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    exec runuser -u "${LOYALTY_USER:-loyalty}" -- .venv/bin/python manage.py "$@"
fi
exec .venv/bin/python manage.py "$@"
