"""The outbox: an event exists exactly when its change committed, and reaches each subscriber after the commit."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from events import services
from events.models import Event, EventType
from events.services import publish, subscribe
from events.tasks import sweep_events

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def received(monkeypatch):
    """A subscriber to purchases only, recording what it was handed; the registry is restored afterwards."""
    monkeypatch.setattr(services, "_subscribers", [])
    got: list[tuple[str, dict]] = []
    subscribe(lambda event: got.append((event.type, event.data)), EventType.PURCHASE_RECORDED)
    return got


def test_an_event_is_handed_on_only_after_its_transaction_commits(received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        publish(EventType.PURCHASE_RECORDED, {"receipt": "R1"})
        assert received == []  # not before the commit
    assert len(callbacks) == 1
    assert received == [("purchase.recorded", {"receipt": "R1"})]
    assert Event.objects.get().dispatched_at is not None


def test_a_change_that_rolls_back_leaves_no_event_and_hands_nothing_on(received, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        publish(EventType.PURCHASE_RECORDED, {"receipt": "R1"})
        raise RuntimeError("the purchase failed")
    assert callbacks == []
    assert not Event.objects.exists()
    assert received == []


def test_subscribers_get_only_the_types_they_asked_for(received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        publish(EventType.REFUND_RECORDED, {"receipt": "R2"})
    assert received == []
    assert Event.objects.get().dispatched_at is not None


def test_a_failing_subscriber_leaves_the_event_for_the_sweep(monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(services, "_subscribers", [])
    attempts = []

    def flaky(event):
        attempts.append(event.pk)
        if len(attempts) == 1:
            raise ConnectionError("down for a moment")

    subscribe(flaky)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = publish(EventType.POINTS_EXPIRED, {"points": -5})
    with pytest.raises(ConnectionError):
        services.dispatch(event.pk)
    event.refresh_from_db()
    assert event.dispatched_at is None
    # Too recent for the sweep: the task's own retries come first.
    assert sweep_events.call_local() == 0
    Event.objects.filter(pk=event.pk).update(created=timezone.now() - dt.timedelta(minutes=5))
    assert sweep_events.call_local() == 1
    assert attempts == [event.pk, event.pk]
    # Handed on once: running the lost enqueue now changes nothing.
    assert callbacks and services.dispatch(event.pk) is False


def test_the_message_has_the_id_type_created_and_data():
    event = publish(EventType.CUSTOMER_ENROLLED, {"member_number": "100"})
    message = event.as_message()
    assert message["id"] == f"evt_{event.public_id.hex}"
    assert message["type"] == "customer.enrolled"
    assert dt.datetime.fromisoformat(message["created"]) == event.created
    assert message["data"] == {"member_number": "100"}
