"""The webhook pages: managers register endpoints (the secret shown once), change, disable and delete them,
read the delivery log and redeliver; store staff cannot; every change is in the audit trail."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from events.models import EventType
from events.services import publish
from tests.pages import field_error, text_of
from webhooks.models import Delivery, DeliveryAttempt, Endpoint

pytestmark = pytest.mark.django_db

EVERY_TYPE = list(EventType.values)


def audited(event: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event=event).order_by("id"))


def delivery_with_attempts(endpoint, *answers):
    """A delivery of a new event to `endpoint` with one attempt per (status code, excerpt) answer."""
    event = publish(EventType.PURCHASE_RECORDED, {"receipt": "R-1"})
    delivery = Delivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=timezone.now())
    for number, (code, excerpt) in enumerate(answers, start=1):
        DeliveryAttempt.objects.create(
            delivery=delivery, number=number, attempted_at=timezone.now(), status_code=code,
            response_excerpt=excerpt, succeeded=code is not None and code < 300,
            error="" if code else "no answer within 10 s",
        )  # fmt: skip
    Delivery.objects.filter(pk=delivery.pk).update(attempts=len(answers), last_attempt_at=timezone.now())
    return delivery


@pytest.mark.parametrize(
    "url",
    ["/webhooks/", "/webhooks/1/", "/webhooks/1/edit/", "/webhooks/1/delete/", "/webhooks/deliveries/1/"],
)
def test_store_staff_cannot_open_the_webhook_pages(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 403
    assert "This page is for managers" in text_of(response)


def test_a_manager_registers_an_endpoint_and_sees_its_secret_once(manager_client, manager):
    response = manager_client.post(
        "/webhooks/",
        {"url": "https://pos.example.com/loyalty", "description": "Till system", "event_types": EVERY_TYPE[:2]},
    )
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    assert (endpoint.url, endpoint.description, endpoint.event_types, endpoint.created_by) == (
        "https://pos.example.com/loyalty", "Till system", ["customer.enrolled", "purchase.recorded"], manager
    )  # fmt: skip
    assert endpoint.secret in response.content.decode()
    assert "Copy it now: it is not shown again." in text_of(response)
    assert response["Cache-Control"] == "no-store"
    for page in ("/webhooks/", f"/webhooks/{endpoint.pk}/", f"/webhooks/{endpoint.pk}/edit/"):
        assert endpoint.secret not in manager_client.get(page).content.decode()
    [added] = audited("webhook_endpoint_added")
    assert added.actor == manager and added.additional_data["url"] == "https://pos.example.com/loyalty"
    assert endpoint.secret not in str(added.additional_data)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"url": "ftp://pos.example.com/x", "event_types": EVERY_TYPE}, "url", "start the URL with https://"),
        ({"url": "https://pos.example.com/x"}, "event_types", "Choose at least one event."),
        ({"url": "", "event_types": EVERY_TYPE}, "url", "This field is required."),
    ],
)
def test_a_bad_endpoint_is_refused_beside_its_field_and_nothing_is_saved(manager_client, data, field, message):
    response = manager_client.post("/webhooks/", data)
    assert response.status_code == 400
    assert message in field_error(response, field)
    assert not Endpoint.objects.exists()


def test_production_refuses_an_endpoint_on_a_private_address(manager_client, settings):
    settings.LOYALTY_WEBHOOK_REQUIRE_HTTPS = True
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    response = manager_client.post("/webhooks/", {"url": "https://10.0.0.5/hooks", "event_types": EVERY_TYPE})
    assert response.status_code == 400
    assert "10.0.0.5 resolves to 10.0.0.5: not a public address" in field_error(response, "url")
    assert not Endpoint.objects.exists()


def test_an_endpoint_is_edited_disabled_enabled_given_a_new_secret_and_deleted(manager_client, manager):
    manager_client.post("/webhooks/", {"url": "https://pos.example.com/a", "event_types": EVERY_TYPE})
    endpoint = Endpoint.objects.get()
    old_secret = endpoint.secret

    response = manager_client.post(
        f"/webhooks/{endpoint.pk}/edit/",
        {"url": "https://pos.example.com/b", "description": "", "event_types": ["refund.recorded"]},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.event_types, endpoint.secret) == (
        "https://pos.example.com/b", ["refund.recorded"], old_secret
    )  # fmt: skip

    manager_client.post(f"/webhooks/{endpoint.pk}/enabled/", {"enabled": "0"})
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    manager_client.post(f"/webhooks/{endpoint.pk}/enabled/", {"enabled": "1"})
    endpoint.refresh_from_db()
    assert endpoint.enabled is True

    response = manager_client.post(f"/webhooks/{endpoint.pk}/secret/")
    endpoint.refresh_from_db()
    assert endpoint.secret != old_secret and endpoint.secret in response.content.decode()
    assert old_secret not in response.content.decode()

    assert "its delivery log (0 deliveries)" in text_of(manager_client.get(f"/webhooks/{endpoint.pk}/delete/"))
    assert manager_client.post(f"/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not Endpoint.objects.exists()

    changes = [event.changes for event in audited("webhook_endpoint_changed")]
    assert changes == [
        {"url": ["https://pos.example.com/a", "https://pos.example.com/b"],
         "event_types": [EVERY_TYPE, ["refund.recorded"]]},
        {"enabled": [True, False]},
        {"enabled": [False, True]},
    ]  # fmt: skip
    assert len(audited("webhook_secret_replaced")) == 1
    [deleted] = audited("webhook_endpoint_deleted")
    assert deleted.actor == manager and deleted.additional_data["url"] == "https://pos.example.com/b"


def test_the_delivery_log_shows_attempts_codes_times_and_the_answer(manager_client, endpoint_at):
    endpoint, _ = endpoint_at("https://pos.example.com/hooks")
    delivery = delivery_with_attempts(endpoint, (500, "database is down"), (None, ""))
    page = text_of(manager_client.get(f"/webhooks/{endpoint.pk}/"))
    # Event and its time; status and the next attempt; attempts; the last answer, its time and why.
    assert re.search(
        r"purchase\.recorded [^·]*? pending next attempt [^·]*? 2 no answer [^·]*? no answer within 10 s", page
    ), page

    detail = manager_client.get(f"/webhooks/deliveries/{delivery.pk}/")
    text = text_of(detail)
    assert delivery.event.wire_id in text
    # Newest first: number, time, answer (and why), time taken, the start of the response.
    assert re.search(r"2 [^·]*? no answer no answer within 10 s 0 ms – 1 [^·]*? HTTP 500 0 ms database is down", text)
    assert "&quot;receipt&quot;: &quot;R-1&quot;" in detail.content.decode()  # the body sent


def test_the_log_can_show_only_failed_deliveries(manager_client, endpoint_at):
    endpoint, _ = endpoint_at("https://pos.example.com/hooks")
    pending = delivery_with_attempts(endpoint, (500, "first"))
    failed = delivery_with_attempts(endpoint, (500, "second"))
    Delivery.objects.filter(pk=failed.pk).update(status="failed", next_attempt_at=None)
    html = manager_client.get(f"/webhooks/{endpoint.pk}/?status=failed").content.decode()
    assert f"/webhooks/deliveries/{failed.pk}/" in html and f"/webhooks/deliveries/{pending.pk}/" not in html


def test_a_manager_redelivers_from_the_log(manager_client, manager, endpoint_at, django_capture_on_commit_callbacks):
    endpoint, _ = endpoint_at("http://127.0.0.1:9/hooks")
    delivery = delivery_with_attempts(endpoint, (200, "ok"))
    Delivery.objects.filter(pk=delivery.pk).update(status="delivered", next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(f"/webhooks/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 302 and response["Location"] == f"/webhooks/{endpoint.pk}/"
    delivery.refresh_from_db()
    assert delivery.attempts == 2  # sent again at once (nothing listens on port 9: it failed, and waits)
    assert delivery.attempt_log.first().error.startswith("could not connect")
    [redelivered] = audited("webhook_redelivered")
    assert redelivered.actor == manager and redelivered.additional_data["event"] == delivery.event.wire_id


def test_a_disabled_endpoint_is_not_redelivered_to(manager_client, manager, endpoint_at):
    endpoint, _ = endpoint_at("https://pos.example.com/hooks")
    delivery = delivery_with_attempts(endpoint, (500, ""))
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    response = manager_client.post(f"/webhooks/deliveries/{delivery.pk}/redeliver/", follow=True)
    assert "This endpoint is disabled: enable it first, then redeliver." in text_of(response)
    assert not audited("webhook_redelivered")


def test_the_pages_run_a_fixed_number_of_queries(manager_client, endpoint_at):
    first, _ = endpoint_at("https://pos.example.com/one")
    delivery_with_attempts(first, (500, "a"))

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(url).status_code == 200
        return len(captured)

    few = (count("/webhooks/"), count(f"/webhooks/{first.pk}/"))
    second, _ = endpoint_at("https://pos.example.com/two")
    for _ in range(5):
        delivery_with_attempts(first, (500, "a"), (502, "b"), (200, "c"))
        delivery_with_attempts(second, (200, "ok"))
    assert (count("/webhooks/"), count(f"/webhooks/{first.pk}/")) == few
    # Session, user, the role's permissions (2), then the endpoints with their counts; or the endpoint, the
    # log's count, a page of deliveries with their events, and their attempts.
    assert few == (5, 8)


def test_the_endpoints_page_is_in_the_navigation_for_managers(manager_client):
    html = manager_client.get(reverse("webhooks:endpoints")).content.decode()
    assert 'href="/webhooks/" aria-current="page">Webhooks</a>' in html
