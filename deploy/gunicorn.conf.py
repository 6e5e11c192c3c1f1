"""gunicorn's settings for the site, each from the environment (the systemd unit passes /etc/loyalty/env):

    .venv/bin/gunicorn --config deploy/gunicorn.conf.py loyalty_site.wsgi:application

GUNICORN_BIND (127.0.0.1:8000: the proxy in front is the only client), WEB_CONCURRENCY (worker processes,
2 × cores + 1 by default), GUNICORN_TIMEOUT (120 s: the longest request is a whole-period export of the
monthly report; the till's take milliseconds). With PROMETHEUS_MULTIPROC_DIR set (the unit sets it), every
worker process writes its request metrics there and `/metrics` adds them up (ops.metrics).
"""

import multiprocessing
import os
import sys
from pathlib import Path

from prometheus_client import multiprocess

# The project, for its logging configuration (gunicorn reads this file before it loads the application).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ops.setup import logging_config

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
# A worker is replaced now and then, so that a slow leak never grows.
max_requests = 2000
max_requests_jitter = 200
# The site writes its own line per request, with its request id and user (ops.request_log): no access log.
accesslog = None
errorlog = "-"
proc_name = "loyalty-web"
# gunicorn's own lines (start, workers booted or timed out) in the site's format: JSON in production.
_site_logging = logging_config(os.environ.get("DJANGO_LOG_FORMAT", "json"), os.environ.get("DJANGO_LOG_LEVEL", "INFO"))
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": _site_logging["formatters"],
    "handlers": _site_logging["handlers"],
    "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}


def on_starting(server):
    """The metrics folder starts empty: figures left by the processes of an earlier run would be added in."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for leftover in Path(folder).glob("*.db"):
            leftover.unlink()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
