"""Publishing events (the outbox) and handing them to subscribers on the background worker.

    publish(EventType.PURCHASE_RECORDED, {...})      # inside the change's database transaction

Subscribers register in their app's `AppConfig.ready()`:

    subscribe(deliver_to_webhooks)                    # every type
    subscribe(email_points_earned, EventType.PURCHASE_RECORDED)

A subscriber is called with the `Event` on the worker, at least once (after a crash or a lost enqueue it may
be called again for the same event): it must be idempotent, typically by creating its own rows keyed by the
event (a delivery per endpoint and event, an email per member and event) and scheduling its own work.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import Event, EventType

logger = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
_subscribers: list[tuple[Subscriber, frozenset[str] | None]] = []


def subscribe(subscriber: Subscriber, *types: str) -> None:
    """Hand `subscriber` every event of `types` (every event when none are given)."""
    if (subscriber, frozenset(types) or None) not in _subscribers:
        _subscribers.append((subscriber, frozenset(types) or None))


def subscribers_of(event_type: str) -> list[Subscriber]:
    return [subscriber for subscriber, types in _subscribers if types is None or event_type in types]


def publish(event_type: EventType | str, data: dict[str, Any], *, moment: dt.datetime | None = None) -> Event:
    """Record an event in the current database transaction; it is handed on only if that transaction commits."""
    event = Event.objects.create(type=EventType(event_type), data=data, created=moment or timezone.now())
    # A module-level import would be circular: the tasks module imports this one.
    from .tasks import dispatch_event

    transaction.on_commit(lambda: dispatch_event(event.pk))
    return event


def dispatch(event_id: int) -> bool:
    """Hand one event to its subscribers; False if it was already handed on. A subscriber's error leaves the
    event undispatched (the task retries; the sweep catches up) and is raised."""
    event = Event.objects.filter(pk=event_id, dispatched_at__isnull=True).first()
    if event is None:
        return False
    for subscriber in subscribers_of(event.type):
        subscriber(event)
    Event.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    return True


def undispatched(*, older_than: dt.timedelta) -> list[int]:
    """Events still waiting for a dispatch that should have happened by now (a lost enqueue, a crash)."""
    cutoff = timezone.now() - older_than
    return list(
        Event.objects.filter(dispatched_at__isnull=True, created__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:1000]
    )
