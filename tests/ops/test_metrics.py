"""Metrics: request latency by view and responses by status, the queue's depth and other scrape-time gauges,
and nobody reads them but a direct client on this machine or a holder of the token."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from events.models import Event, EventType
from events.services import publish
from ops import metrics

pytestmark = pytest.mark.django_db


def samples(body: bytes) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    return samples(response.content)


def test_requests_are_timed_by_view_and_counted_by_status(client, staff_client):
    before = scrape(client)
    client.get("/healthz")
    staff_client.get("/reports/")  # store staff: refused, 403
    after = scrape(client)
    latency = ("django_http_requests_latency_seconds_by_view_method_count", (("method", "GET"), ("view", "healthz")))
    ok = (
        "django_http_responses_total_by_status_view_method_total",
        (("method", "GET"), ("status", "200"), ("view", "healthz")),
    )
    assert after[latency] == before.get(latency, 0) + 1
    assert after[ok] == before.get(ok, 0) + 1
    refused = [
        key
        for key in after
        if key[0] == "django_http_responses_total_by_status_total" and key[1] == (("status", "403"),)
    ]
    assert refused and after[refused[0]] >= 1


def test_the_queue_depth_and_undispatched_events_are_read_at_scrape_time(client, django_capture_on_commit_callbacks):
    scraped = scrape(client)
    assert scraped[("loyalty_task_queue_depth", ())] == 0
    assert scraped[("loyalty_events_undispatched", ())] == 0
    with django_capture_on_commit_callbacks(execute=False):
        publish(EventType.CUSTOMER_ENROLLED, {"member_number": "1"})  # its hand-off never ran
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 1
    assert scrape(client)[("loyalty_events_undispatched", ())] == 1


def test_an_app_adds_a_gauge_with_one_line_and_a_failing_one_spoils_nothing(client, monkeypatch):
    monkeypatch.setattr(metrics, "_gauges", dict(metrics._gauges))
    metrics.gauge("loyalty_webhook_deliveries_failing", "Deliveries failing.", lambda: 3)
    metrics.gauge(
        "loyalty_stores_by_region",
        "Stores per region.",
        lambda: [(("north",), 2), (("south",), 5)],
        labelnames=["region"],
    )
    metrics.gauge("loyalty_broken", "Cannot be read.", lambda: 1 / 0)
    scraped = scrape(client)
    assert scraped[("loyalty_webhook_deliveries_failing", ())] == 3
    assert scraped[("loyalty_stores_by_region", (("region", "south"),))] == 5
    assert not any(name == "loyalty_broken" for name, _ in scraped)
    assert scraped[("loyalty_metrics_read_failures", ())] == 1
    assert scraped[("loyalty_task_queue_depth", ())] == 0


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"REMOTE_ADDR": "203.0.113.9"}, "another machine"),
        ({"REMOTE_ADDR": "10.0.0.5"}, "the private network"),
        ({"HTTP_X_FORWARDED_FOR": "203.0.113.9"}, "through the proxy, whose address is loopback"),
        ({"HTTP_X_FORWARDED_FOR": "127.0.0.1"}, "through the proxy, even claiming loopback"),
    ],
)
def test_without_a_token_only_a_direct_client_on_this_machine_may_read(client, headers, why):
    response = client.get("/metrics", **headers)
    assert response.status_code == 403, why
    assert b"loyalty_" not in response.content and b"django_http" not in response.content


def test_with_a_token_every_reader_needs_it(client, settings):
    settings.METRICS_TOKEN = "s3cret-token-for-prometheus"
    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    basic = client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-token-for-prometheus")
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"loyalty_" not in response.content
    right = client.get(
        "/metrics",
        HTTP_AUTHORIZATION="Bearer s3cret-token-for-prometheus",
        REMOTE_ADDR="203.0.113.9",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert right.status_code == 200 and b"loyalty_task_queue_depth" in right.content


def test_metrics_need_no_sign_in_but_offer_nothing_else(client):
    assert client.post("/metrics").status_code == 405


def call_worker_app(environ: dict) -> tuple[str, dict, bytes]:
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(metrics.worker_metrics_app({"REMOTE_ADDR": "127.0.0.1", **environ}, start_response))
    return answer["status"], answer["headers"], body


def test_the_workers_metrics_follow_the_same_rules(settings):
    status, _, body = call_worker_app({"PATH_INFO": "/metrics"})
    assert status == "200 OK" and b"loyalty_task_queue_depth" in body
    assert call_worker_app({"PATH_INFO": "/metrics", "REMOTE_ADDR": "10.1.2.3"})[0] == "403 Forbidden"
    assert call_worker_app({"PATH_INFO": "/admin/"})[0] == "404 Not Found"
    settings.METRICS_TOKEN = "worker-token"
    status, headers, _ = call_worker_app({"PATH_INFO": "/metrics"})
    assert status == "401 Unauthorized" and headers["WWW-Authenticate"].startswith("Bearer")
    status, _, body = call_worker_app({"PATH_INFO": "/metrics", "HTTP_AUTHORIZATION": "Bearer worker-token"})
    assert status == "200 OK" and b"loyalty_task_queue_depth" in body
