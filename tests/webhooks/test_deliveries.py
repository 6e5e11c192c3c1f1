"""Deliveries: one per event and endpoint, signed, sent by the worker's task, retried from the database with
back-off for at least a day, then failed. A receiver on 127.0.0.1 plays the shop's other system; tasks run
in the test's process (huey's immediate mode), the clock is moved instead of waited for."""

import datetime as dt
import itertools
import json

import pytest
import time_machine
from django.utils import timezone

from events import services as events
from events.models import Event, EventType
from tests.factories import CustomerFactory, purchase
from tests.ops.test_metrics import scrape
from webhooks import sending, services, signing
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.tasks import deliver_event, send_due_deliveries

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(django_capture_on_commit_callbacks):
    """Record a purchase through the recording service and hand its event on, as the worker does."""

    def record(amount: str = "120.00"):
        with django_capture_on_commit_callbacks(execute=True):
            result = purchase(CustomerFactory(), amount, receipt="R-1")
        return result, Event.objects.get(type=EventType.PURCHASE_RECORDED)

    return record


def verified(received, secret: str) -> dict:
    """The delivery's body, after checking its signature as a receiver does."""
    fields = dict(part.split("=", 1) for part in received.headers["Loyalty-Signature"].split(","))
    assert fields["v1"] == signing.signature(secret, int(fields["t"]), received.body)
    return json.loads(received.body)


def test_a_recorded_purchase_reaches_the_endpoint_signed(receiver, endpoint_at, recorded):
    endpoint, secret = endpoint_at(receiver.url())
    _, event = recorded()
    [received] = receiver.wait_for(1)
    assert received.path == "/hooks"
    assert verified(received, secret) == event.as_message()
    assert received.headers["Loyalty-Event-Id"] == event.wire_id
    assert received.headers["Loyalty-Event-Type"] == "purchase.recorded"
    assert received.headers["Content-Type"] == "application/json"
    delivery = Delivery.objects.get()
    assert (delivery.endpoint, delivery.event, delivery.status, delivery.attempts) == (
        endpoint, event, "delivered", 1
    )  # fmt: skip
    assert delivery.next_attempt_at is None and delivery.delivered_at is not None
    attempt = delivery.attempt_log.get()
    assert (attempt.status_code, attempt.succeeded, attempt.response_excerpt) == (200, True, "ok")


def test_only_enabled_endpoints_that_want_the_type_and_existed_then_get_an_event(
    receiver, endpoint_at, manager, django_capture_on_commit_callbacks
):
    wanted, _ = endpoint_at(receiver.url("/wanted"))
    endpoint_at(receiver.url("/refunds-only"), event_types=["refund.recorded"])
    disabled, _ = endpoint_at(receiver.url("/disabled"))
    services.set_endpoint_enabled(endpoint=disabled, enabled=False, changed_by=manager)
    with django_capture_on_commit_callbacks(execute=False):
        event = events.publish(EventType.PURCHASE_RECORDED, {"receipt": "R-9"})
    endpoint_at(receiver.url("/too-late"))  # registered after the event happened
    events.dispatch(event.pk)
    assert [received.path for received in receiver.wait_for(1)] == ["/wanted"]
    assert list(Delivery.objects.values_list("endpoint", flat=True)) == [wanted.pk]


def test_an_event_handed_on_twice_is_delivered_once(receiver, endpoint_at, recorded):
    endpoint_at(receiver.url())
    _, event = recorded()
    receiver.wait_for(1)
    deliver_event(event)  # the outbox is at least once: a second hand-off of the same event
    assert Delivery.objects.count() == 1
    assert DeliveryAttempt.objects.count() == 1
    assert len(receiver.received) == 1


def test_the_database_refuses_a_second_delivery_of_an_event_to_an_endpoint(endpoint_at, refused_by):
    endpoint, _ = endpoint_at("http://127.0.0.1:9/hooks")
    event = events.publish(EventType.PURCHASE_RECORDED, {})
    Delivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=timezone.now())
    with refused_by(Delivery, "delivery_one_per_event_and_endpoint"):
        Delivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=timezone.now())


def test_a_failing_receiver_is_retried_with_back_off_until_it_answers(receiver, endpoint_at, recorded):
    endpoint_at(receiver.url())
    receiver.answer(500, b"database down")
    receiver.answer(503, b"")
    recorded()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    first_wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert dt.timedelta(seconds=59) < first_wait < dt.timedelta(seconds=62)

    assert send_due_deliveries.call_local() == 0  # not due yet: nothing is sent before its time
    with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1), tick=False):
        assert send_due_deliveries.call_local() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 2, 503)
    second_wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert dt.timedelta(seconds=119) < second_wait < dt.timedelta(seconds=122)

    with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1), tick=False):
        send_due_deliveries.call_local()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("delivered", 3, None)
    log = list(delivery.attempt_log.order_by("number").values_list("number", "status_code", "response_excerpt"))
    assert log == [(1, 500, "database down"), (2, 503, ""), (3, 200, "ok")]
    # The same event, the same id, every time; each attempt signed afresh.
    ids = {received.headers["Loyalty-Event-Id"] for received in receiver.received}
    assert len(receiver.received) == 3 and len(ids) == 1
    assert [received.headers["Loyalty-Delivery-Attempt"] for received in receiver.received] == ["1", "2", "3"]


def test_a_receiver_that_never_answers_2xx_is_retried_for_a_day_then_the_delivery_fails(
    receiver, endpoint_at, recorded
):
    endpoint_at(receiver.url())
    for _ in range(40):
        receiver.answer(500)
    recorded()
    delivery = Delivery.objects.get()
    first = delivery.last_attempt_at
    while delivery.status == "pending":
        with time_machine.travel(delivery.next_attempt_at + dt.timedelta(seconds=1), tick=False):
            send_due_deliveries.call_local()
        delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.next_attempt_at is None
    times = list(delivery.attempt_log.order_by("number").values_list("attempted_at", flat=True))
    waits = [later - earlier for earlier, later in itertools.pairwise(times)]
    # 1, 2, 4, … minutes after each failure (the clock was moved a second past each due time), at most 6
    # hours apart, for at least 24 hours.
    expected = [min(dt.timedelta(minutes=2**n), dt.timedelta(hours=6)) for n in range(len(waits))]
    assert all(due < wait < due + dt.timedelta(seconds=3) for wait, due in zip(waits, expected, strict=True)), waits
    assert times[-2] - first < dt.timedelta(hours=24) <= times[-1] - first
    assert len(times) == delivery.attempts == 13
    assert send_due_deliveries.call_local() == 0


def test_no_answer_in_time_is_a_failed_attempt(receiver, endpoint_at, recorded, settings):
    settings.LOYALTY_WEBHOOK_TIMEOUT_SECONDS = 0.2
    receiver.delay = 0.6
    endpoint_at(receiver.url())
    recorded()
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.status_code, attempt.succeeded, attempt.error) == (None, False, "no answer within 0.2 s")
    assert Delivery.objects.get().status == "pending"


def test_a_refused_connection_is_a_failed_attempt(endpoint_at, recorded):
    endpoint_at("http://127.0.0.1:9/hooks")  # the discard port: nothing listens there
    recorded()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and attempt.error.startswith("could not connect: 127.0.0.1:")


def test_a_redirect_is_not_followed(receiver, endpoint_at, recorded):
    endpoint_at(receiver.url())
    receiver.answer(302, b"", {"Location": "http://169.254.169.254/latest/meta-data"})
    recorded()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code == 302 and not attempt.succeeded
    assert attempt.error.startswith("redirected to http://169.254.169.254/latest/meta-data")
    assert len(receiver.received) == 1


def test_an_address_that_became_private_is_not_connected_to(receiver, endpoint_at, recorded, settings):
    endpoint_at(receiver.url())
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False  # as in production: 127.0.0.1 is refused
    recorded()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None
    assert attempt.error.startswith("not sent: 127.0.0.1 resolves to 127.0.0.1: not a public address")
    assert receiver.received == []


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(receiver, endpoint_at, recorded):
    endpoint_at(receiver.url(host="localhost"))
    recorded()
    [received] = receiver.wait_for(1)
    assert received.headers["Host"] == f"localhost:{receiver.port}"
    assert Delivery.objects.get().status == "delivered"


def test_https_keeps_the_host_name_for_sni_and_the_certificate_check():
    with sending.httpx.Client() as client:
        url = sending.httpx.URL("https://shop.example.com:8443/hooks?x=1")
        request = sending.pinned_request(client, url, sending.ipaddress.ip_address("93.184.215.14"), b"{}", {})
    assert str(request.url) == "https://93.184.215.14:8443/hooks?x=1"
    assert request.headers["Host"] == "shop.example.com:8443"
    assert request.extensions["sni_hostname"] == "shop.example.com"


def test_a_delivery_in_flight_is_not_taken_by_a_second_worker(receiver, endpoint_at, monkeypatch, recorded):
    endpoint_at(receiver.url())
    second_worker = []
    real_post = sending.post

    def post_while_another_worker_tries(url, body, headers):
        second_worker.append(services.attempt_delivery(Delivery.objects.get().pk))
        return real_post(url, body, headers)

    monkeypatch.setattr(sending, "post", post_while_another_worker_tries)
    recorded()
    assert second_worker == [None]
    assert len(receiver.received) == 1 and DeliveryAttempt.objects.count() == 1


def test_a_redelivery_sends_the_event_again_and_starts_the_retries_afresh(
    receiver, endpoint_at, recorded, manager, django_capture_on_commit_callbacks
):
    endpoint_at(receiver.url())
    _, event = recorded()
    delivery = Delivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.redeliver(delivery=delivery, requested_by=manager)
    first, again = receiver.wait_for(2)
    assert first.body == again.body and again.headers["Loyalty-Event-Id"] == event.wire_id
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert delivery.scheduled_at > delivery.event.created


def test_a_redelivery_asked_for_during_an_attempt_is_not_lost(receiver, endpoint_at, monkeypatch, recorded, manager):
    endpoint_at(receiver.url())
    receiver.answer(500)
    real_post = sending.post

    def post_while_a_manager_redelivers(url, body, headers):
        answer = real_post(url, body, headers)
        monkeypatch.setattr(sending, "post", real_post)  # once
        with monkeypatch.context() as later:
            later.setattr(services, "_send_after_commit", lambda ids: None)  # its own send comes later
            services.redeliver(delivery=Delivery.objects.select_related("endpoint").get(), requested_by=manager)
        return answer

    monkeypatch.setattr(sending, "post", post_while_a_manager_redelivers)
    recorded()
    delivery = Delivery.objects.get()
    # The failed attempt is logged, but the redelivery's "now" stands, not the attempt's back-off.
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    assert delivery.status == "pending" and delivery.next_attempt_at <= timezone.now()
    assert send_due_deliveries.call_local() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_an_endpoint_deleted_while_its_delivery_is_out_leaves_nothing_to_record(
    receiver, endpoint_at, monkeypatch, recorded, manager
):
    endpoint, _ = endpoint_at(receiver.url())
    real_post = sending.post

    def post_while_the_manager_deletes(url, body, headers):
        answer = real_post(url, body, headers)
        services.delete_endpoint(endpoint=endpoint, deleted_by=manager)
        return answer

    monkeypatch.setattr(sending, "post", post_while_the_manager_deletes)
    recorded()
    assert len(receiver.received) == 1
    assert not Delivery.objects.exists() and not DeliveryAttempt.objects.exists()


def test_failing_deliveries_show_in_the_metrics(receiver, endpoint_at, recorded, client):
    before = scrape(client)
    retrying = before.get(("loyalty_webhook_attempts_total", (("outcome", "retrying"),)), 0)
    endpoint_at(receiver.url())
    receiver.answer(500, b"down")
    recorded()
    after = scrape(client)
    assert after[("loyalty_webhook_deliveries_retrying", ())] == 1
    assert after[("loyalty_webhook_attempts_total", (("outcome", "retrying"),))] == retrying + 1
