"""Metrics for Prometheus, from the web and from each worker, and who may read them.

- The web: django-prometheus's middleware counts requests, responses by status and latency by view. Under
  gunicorn's several processes (PROMETHEUS_MULTIPROC_DIR set, deploy/gunicorn.conf.py), every process
  writes its figures to that folder and `/metrics` adds them up.
- The worker: counters and durations of tasks (`ops.worker`), served by the worker process itself on
  TASK_METRICS_PORT.
- Scrape-time gauges: figures read from the database or the queue when Prometheus asks (the queue's
  depth, undispatched events, ...). An app adds one with one line in its `AppConfig.ready()` (`gauge`).

Nobody else reads them: with METRICS_TOKEN set, a request needs `Authorization: Bearer <token>`; without
it, only a client on this machine talking to the server directly (loopback, not through a proxy).
"""

import hmac
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# The worker's tasks, by task (its dotted name) and outcome: complete, error, retrying, expired, revoked, ...
TASKS = Counter("loyalty_tasks", "Tasks the worker finished, by task and outcome.", ["task", "outcome"])
TASK_DURATION = Histogram(
    "loyalty_task_duration_seconds",
    "How long tasks ran, by task (completed or failed).",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, float("inf")),
)


@dataclass(frozen=True)
class ScrapeTimeGauge:
    name: str
    documentation: str
    read: Callable[[], float | Iterable[tuple[Iterable[str], float]]]
    labelnames: tuple[str, ...] = ()


_gauges: dict[str, ScrapeTimeGauge] = {}


def gauge(
    name: str,
    documentation: str,
    read: Callable[[], float | Iterable[tuple[Iterable[str], float]]],
    *,
    labelnames: Iterable[str] = (),
) -> None:
    """Add a gauge that is read when Prometheus scrapes, in an app's `AppConfig.ready()`:

        metrics.gauge("loyalty_webhook_deliveries_failing", "Webhook deliveries whose last attempt failed.",
                      lambda: Delivery.objects.filter(state=Delivery.State.FAILING).count())

    `read` returns a number, or with `labelnames` pairs of (label values, number). It runs at every scrape
    (every 15 seconds or so), from the web and from every worker: keep it one query that an index serves.
    A `read` that raises is logged and left out of that scrape; the others are still served."""
    _gauges[name] = ScrapeTimeGauge(name, documentation, read, tuple(labelnames))


def gauges() -> list[str]:
    return sorted(_gauges)


class _ScrapeTimeCollector(Collector):
    def collect(self):
        failed = 0
        for scrape_gauge in list(_gauges.values()):
            try:
                value = scrape_gauge.read()
                family = GaugeMetricFamily(
                    scrape_gauge.name, scrape_gauge.documentation, labels=scrape_gauge.labelnames or None
                )
                if scrape_gauge.labelnames:
                    for labels, number in value:
                        family.add_metric([str(label) for label in labels], float(number))
                else:
                    family.add_metric([], float(value))
            except Exception:
                logger.exception("metric %s could not be read", scrape_gauge.name)
                failed += 1
                continue
            yield family
        yield GaugeMetricFamily(
            "loyalty_metrics_read_failures", "Scrape-time gauges that could not be read in this scrape.", value=failed
        )


# Its own registry: read only by `exposition`, never at start-up (no database before the first scrape).
SCRAPE_TIME = CollectorRegistry(auto_describe=False)
SCRAPE_TIME.register(_ScrapeTimeCollector())


def exposition() -> bytes:
    """Everything this process serves, in Prometheus' text format. Under gunicorn (multiprocess mode) the
    counters and histograms of every worker process are added up from PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(SCRAPE_TIME)


def refusal(meta: Mapping[str, str]) -> int | None:
    """None when the request (its WSGI environ or META) may read the metrics, else the HTTP status to answer.

    With METRICS_TOKEN: the bearer token, compared in constant time, from anywhere (through the proxy too).
    Without: only a direct connection from this machine. A request carrying X-Forwarded-For came through a
    proxy, whose own address is loopback whoever the client is, so it is refused."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, supplied = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), token.encode()):
            return None
        return 401
    if "HTTP_X_FORWARDED_FOR" in meta:
        return 403
    try:
        return None if ipaddress.ip_address(meta.get("REMOTE_ADDR", "")).is_loopback else 403
    except ValueError:
        return 403


REFUSALS = {
    401: "A bearer token is needed: Authorization: Bearer <METRICS_TOKEN>.\n",
    403: "Metrics are served to this machine only (loopback, not through a proxy); set METRICS_TOKEN to scrape "
    "them from elsewhere.\n",
}


@login_not_required
@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    status = refusal(request.META)
    if status is not None:
        response = HttpResponse(REFUSALS[status], status=status, content_type="text/plain; charset=utf-8")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def worker_metrics_app(environ, start_response):
    """The worker's `/metrics`, a WSGI application of its own (the worker serves no Django views)."""
    if environ.get("PATH_INFO") != "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Not found: the worker serves /metrics only.\n"]
    status = refusal(environ)
    if status is not None:
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        if status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="metrics"'))
        start_response("401 Unauthorized" if status == 401 else "403 Forbidden", headers)
        return [REFUSALS[status].encode()]
    try:
        body = exposition()
    finally:
        # The gauges may have queried the database from this thread: give the connection back.
        connections.close_all()
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # one line per scrape every 15 s is noise, not news
        pass


_server_lock = threading.Lock()
_server: WSGIServer | None = None


def serve_worker_metrics(port: int, address: str) -> WSGIServer | None:
    """Serve `/metrics` from this worker process on address:port, in a thread of its own; once per process
    (huey calls its start-up hooks once per worker thread)."""
    global _server
    with _server_lock:
        if _server is not None:
            return _server
        try:
            _server = make_server(address, port, worker_metrics_app, handler_class=_QuietHandler)
        except OSError:
            logger.exception("the worker's metrics cannot be served on %s:%s", address, port)
            return None
        threading.Thread(target=_server.serve_forever, name="metrics", daemon=True).start()
        logger.info("worker metrics served on http://%s:%s/metrics", address, port)
        return _server
