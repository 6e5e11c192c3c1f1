"""Webhooks: registering endpoints, turning events into deliveries, sending them, and redelivering.

    endpoint, secret = register_endpoint(url=..., event_types=[...], description="", created_by=manager)
    create_deliveries(event)        # the outbox's subscriber (tasks.deliver_event), on the worker
    attempt_delivery(delivery_id)   # one attempt, on the worker (tasks.send_delivery)
    redeliver(delivery=..., requested_by=manager)

Endpoint changes are recorded in the audit trail. Deliveries are at least once: the receiver de-duplicates by
the event id (`Loyalty-Event-Id`); order is not guaranteed (a retried event arrives after later ones).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from prometheus_client import Counter

import audit
from events.models import Event, EventType

from . import sending, signing
from .addresses import check_endpoint_url
from .models import Delivery, DeliveryAttempt, Endpoint

logger = logging.getLogger(__name__)

# On the worker's /metrics: every attempt by what came of it (delivered, retrying, failed for good).
ATTEMPTS = Counter("loyalty_webhook_attempts", "Webhook delivery attempts, by outcome.", ["outcome"])

# The first retry a minute after a failure, then twice as long each time, at most six hours apart: 1, 2, 4, …,
# 256 minutes, then every 6 hours until LOYALTY_WEBHOOK_RETRY_HOURS after the event (about a dozen attempts
# in the default 24 hours; the last one may come up to six hours later).
FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_WAIT = dt.timedelta(hours=6)
# How long an attempt in flight holds its delivery: longer than any attempt takes (each of its steps is
# bounded by the timeout, for each address tried), short enough that a crashed worker's delivery is soon due.
LEASE = dt.timedelta(minutes=5)
DUE_BATCH = 500


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return min(FIRST_RETRY * 2 ** min(attempts - 1, 20), LONGEST_WAIT)


def retry_window() -> dt.timedelta:
    return dt.timedelta(hours=settings.LOYALTY_WEBHOOK_RETRY_HOURS)


def _event_types(values) -> list[str]:
    chosen = [EventType(value).value for value in values]
    if not chosen:
        raise ValidationError({"event_types": "Choose at least one event."})
    return [value for value in EventType.values if value in chosen]  # declared order, no repeats


def _checked_url(url: str) -> str:
    try:
        return check_endpoint_url(url)
    except ValidationError as error:
        raise ValidationError({"url": error.messages}) from None


# ---------------------------------------------------------------------------------------------------
# Endpoints.


@transaction.atomic
def register_endpoint(*, url: str, event_types, description: str = "", created_by) -> tuple[Endpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown to the manager once)."""
    endpoint = Endpoint.objects.create(
        url=_checked_url(url), event_types=_event_types(event_types), description=description.strip(),
        created_by=created_by,
    )  # fmt: skip
    audit.record(
        audit.Event.WEBHOOK_ENDPOINT_ADDED,
        actor=created_by,
        target=endpoint,
        detail={"url": endpoint.url, "event_types": endpoint.event_types, "description": endpoint.description},
    )
    return endpoint, endpoint.secret


@transaction.atomic
def change_endpoint(*, endpoint: Endpoint, url: str, event_types, description: str, changed_by) -> Endpoint:
    after = {"url": _checked_url(url), "event_types": _event_types(event_types), "description": description.strip()}
    before = {name: getattr(endpoint, name) for name in after}
    changes = {name: (before[name], value) for name, value in after.items() if before[name] != value}
    if changes:
        for name, value in after.items():
            setattr(endpoint, name, value)
        endpoint.save(update_fields=list(after))
        audit.record(audit.Event.WEBHOOK_ENDPOINT_CHANGED, actor=changed_by, target=endpoint, changes=changes)
    return endpoint


@transaction.atomic
def set_endpoint_enabled(*, endpoint: Endpoint, enabled: bool, changed_by) -> None:
    """A disabled endpoint is sent nothing: events meanwhile get no delivery, and its pending deliveries wait
    (they go out when it is enabled again, unless their retry window has passed by their next failure)."""
    if endpoint.enabled == enabled:
        return
    Endpoint.objects.filter(pk=endpoint.pk).update(enabled=enabled)
    audit.record(
        audit.Event.WEBHOOK_ENDPOINT_CHANGED, actor=changed_by, target=endpoint,
        changes={"enabled": (endpoint.enabled, enabled)},
    )  # fmt: skip
    endpoint.enabled = enabled
    if enabled:
        # What waited while it was disabled is due now.
        due = endpoint.deliveries.filter(status=Delivery.Status.PENDING, next_attempt_at__lt=timezone.now())
        _send_after_commit(list(due.values_list("pk", flat=True)))


@transaction.atomic
def replace_secret(*, endpoint: Endpoint, changed_by) -> str:
    """A new signing secret, in force at once (the old one stops verifying); returned to be shown once."""
    endpoint.secret_salt = signing.new_salt()
    endpoint.save(update_fields=["secret_salt"])
    audit.record(audit.Event.WEBHOOK_SECRET_REPLACED, actor=changed_by, target=endpoint, detail={"url": endpoint.url})
    return endpoint.secret


@transaction.atomic
def delete_endpoint(*, endpoint: Endpoint, deleted_by) -> None:
    """The endpoint and its delivery log go; the audit trail keeps that it existed and who deleted it."""
    audit.record(
        audit.Event.WEBHOOK_ENDPOINT_DELETED,
        actor=deleted_by,
        target=endpoint,
        detail={"url": endpoint.url, "event_types": endpoint.event_types, "deliveries": endpoint.deliveries.count()},
    )
    endpoint.delete()


# ---------------------------------------------------------------------------------------------------
# Deliveries.


def create_deliveries(event: Event) -> list[int]:
    """One delivery of `event` per enabled endpoint that wants its type and existed when it happened.
    Idempotent (the outbox hands an event on at least once): returns the deliveries not yet attempted."""
    endpoints = [
        endpoint.pk
        for endpoint in Endpoint.objects.filter(enabled=True, created_at__lte=event.created).only("event_types")
        if endpoint.wants(event.type)
    ]
    if not endpoints:
        return []
    now = timezone.now()
    Delivery.objects.bulk_create(
        [Delivery(endpoint_id=pk, event=event, scheduled_at=now, next_attempt_at=now) for pk in endpoints],
        ignore_conflicts=True,
    )
    return list(
        Delivery.objects.filter(event=event, endpoint_id__in=endpoints, status=Delivery.Status.PENDING, attempts=0)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def message_body(event: Event) -> bytes:
    """The body every endpoint gets for `event`: its wire form as compact UTF-8 JSON."""
    return json.dumps(event.as_message(), ensure_ascii=False, separators=(",", ":")).encode()


def signed_headers(endpoint: Endpoint, event: Event, body: bytes, *, timestamp: int, attempt: int) -> dict[str, str]:
    return {
        signing.SIGNATURE_HEADER: signing.signature_header(endpoint.secret, timestamp, body),
        signing.EVENT_ID_HEADER: event.wire_id,
        signing.EVENT_TYPE_HEADER: event.type,
        "Loyalty-Delivery-Attempt": str(attempt),
    }


def attempt_delivery(delivery_id: int) -> DeliveryAttempt | None:
    """Send a due delivery once and record what came of it; None if it is not due, already taken by another
    worker, finished, or its endpoint is disabled. Never holds a database transaction across the request."""
    now = timezone.now()
    lease_until = now + LEASE
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
    ).update(next_attempt_at=lease_until)
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    number = delivery.attempts + 1
    body = message_body(delivery.event)
    headers = signed_headers(delivery.endpoint, delivery.event, body, timestamp=int(now.timestamp()), attempt=number)
    answer = sending.post(delivery.endpoint.url, body, headers)
    return _record_attempt(delivery, answer, number=number, attempted_at=now, lease_until=lease_until)


@transaction.atomic
def _record_attempt(
    delivery, answer: sending.Answer, *, number: int, attempted_at, lease_until
) -> DeliveryAttempt | None:
    if not Delivery.objects.select_for_update().filter(pk=delivery.pk).exists():
        return None  # its endpoint was deleted, with its log, while the request was out: nothing to record
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery, number=number, attempted_at=attempted_at, duration_ms=answer.duration_ms,
        status_code=answer.status_code, error=answer.error, response_excerpt=answer.excerpt,
        succeeded=answer.succeeded,
    )  # fmt: skip
    finished = timezone.now()
    if answer.succeeded:
        outcome = {"status": Delivery.Status.DELIVERED, "delivered_at": finished, "next_attempt_at": None}
        ATTEMPTS.labels("delivered").inc()
    elif finished - delivery.scheduled_at >= retry_window():
        outcome = {"status": Delivery.Status.FAILED, "next_attempt_at": None}
        logger.warning("webhook %s gave up after %s attempts", delivery, number)
        ATTEMPTS.labels("failed").inc()
    else:
        outcome = {"next_attempt_at": finished + retry_delay(number)}
        ATTEMPTS.labels("retrying").inc()
    recorded = {"attempts": F("attempts") + 1, "last_attempt_at": attempted_at, "last_status_code": answer.status_code}
    # The outcome decides the delivery's state only if nobody asked for it again meanwhile (a redelivery
    # moved next_attempt_at off this attempt's lease): then the redelivery's state stands.
    if not Delivery.objects.filter(pk=delivery.pk, next_attempt_at=lease_until).update(**recorded, **outcome):
        Delivery.objects.filter(pk=delivery.pk).update(**recorded)
    return attempt


def due_deliveries(limit: int = DUE_BATCH) -> list[int]:
    """Pending deliveries whose next attempt is due, oldest first (the delivery_due_idx index serves it)."""
    return list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now(), endpoint__enabled=True
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def redeliver(*, delivery: Delivery, requested_by) -> None:
    """Send the event to the endpoint again now, whatever became of it before; retries start afresh."""
    if not delivery.endpoint.enabled:
        raise ValidationError("This endpoint is disabled: enable it first, then redeliver.")
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PENDING, scheduled_at=now, next_attempt_at=now, delivered_at=None
    )
    audit.record(
        audit.Event.WEBHOOK_REDELIVERED,
        actor=requested_by,
        target=delivery.endpoint,
        detail={"event": delivery.event.wire_id, "type": delivery.event.type, "delivery": delivery.pk},
    )
    _send_after_commit([delivery.pk])


def _send_after_commit(delivery_ids: list[int]) -> None:
    # tasks imports this module: a module-level import would be circular.
    from .tasks import send_delivery

    for pk in delivery_ids:
        transaction.on_commit(lambda pk=pk: send_delivery(pk))
