"""The real worker (`manage.py run_huey` in its own process, tests/worker.py) delivers a purchase recorded
through the recording service, or through the JSON API, to a receiver on 127.0.0.1, signed as the README's
recipe verifies; a receiver answering 500 is retried from the database."""

import json

import pytest
from django.db import transaction
from django.utils import timezone

from api.keys import create_api_key
from events.models import Event, EventType
from tests.api.conftest import ApiClient
from tests.factories import CustomerFactory, purchase
from webhooks.models import Delivery
from webhooks.tasks import send_due_deliveries

pytestmark = pytest.mark.django_db(transaction=True)


def delivery_state() -> tuple | None:
    return Delivery.objects.values_list("status", "attempts", "last_status_code").first()


def test_the_worker_delivers_a_recorded_purchase_signed(worker, receiver, endpoint_at, recipe):
    _, secret = endpoint_at(receiver.url())
    worker.start()
    with transaction.atomic():
        purchase(CustomerFactory(), "120.00", receipt="R-100")
    [received] = receiver.wait_for(1)
    event = Event.objects.get(type=EventType.PURCHASE_RECORDED)
    assert recipe(secret).verify(secret, received.headers["Loyalty-Signature"], received.body)
    message = json.loads(received.body)
    assert message == event.as_message()
    assert message["data"]["points"] == 90 and message["data"]["transaction"]["receipt_number"] == "R-100"
    assert received.headers["Loyalty-Event-Id"] == event.wire_id
    worker.wait_until(lambda: delivery_state() == ("delivered", 1, 200), what="the delivery to be recorded")
    worker.wait_until(lambda: Event.objects.filter(dispatched_at__isnull=False).count() == Event.objects.count())


def test_a_purchase_recorded_through_the_api_is_delivered_signed(worker, receiver, endpoint_at, recipe):
    """The issue's whole path: the shop's system records a purchase with an API key, the worker delivers the
    event to the receiver, whose signature check passes."""
    _, secret = endpoint_at(receiver.url())
    CustomerFactory(member_number="M100")
    api = ApiClient(create_api_key(name="Web shop", role="staff").secret)
    worker.start()
    response = api.post("purchases", {"customer": "M100", "amount": "120.00", "receipt_number": "API-1"})
    assert response.status_code == 201, response.content
    [received] = receiver.wait_for(1)
    assert recipe(secret).verify(secret, received.headers["Loyalty-Signature"], received.body)
    message = json.loads(received.body)
    assert message["type"] == "purchase.recorded"
    assert message["data"]["transaction"]["source"] == "api" and message["data"]["points"] == 90
    assert message["data"]["lines"] == response.json()["lines"]


def test_the_worker_retries_a_receiver_that_answered_500(worker, receiver, endpoint_at):
    endpoint_at(receiver.url())
    receiver.answer(500, b"try later")
    worker.start()
    purchase(CustomerFactory(), "80.00", receipt="R-200")
    worker.wait_until(lambda: delivery_state() == ("pending", 1, 500), what="the failed first attempt")
    delivery = Delivery.objects.get()
    assert delivery.next_attempt_at > timezone.now()  # its retry is scheduled, a minute on
    # The minute passes (the clock is not waited for): the periodic task finds it due, the worker retries.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    send_due_deliveries()
    worker.wait_until(lambda: delivery_state() == ("delivered", 2, 200), what="the retry to be delivered")
    first, second = receiver.wait_for(2)
    assert first.body == second.body
    assert [r.headers["Loyalty-Delivery-Attempt"] for r in (first, second)] == ["1", "2"]
