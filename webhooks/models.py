"""Webhook endpoints (where the shop's other systems want to hear about events), one delivery per event and
endpoint, and each attempt to send it.

A delivery is created by the outbox's subscriber (tasks.deliver_event) and sent by the worker; retries are
driven by the database (`next_attempt_at`, read by a periodic task), so a worker restart loses nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from events.models import EventType

from . import signing


class Endpoint(models.Model):
    url = models.URLField("URL", max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # The events.models.EventType values it is sent; few endpoints exist, so the subscriber filters in Python.
    event_types = models.JSONField(default=list)
    # The secret is derived from this and DJANGO_SECRET_KEY (signing.endpoint_secret), never stored.
    secret_salt = models.CharField(max_length=64, default=signing.new_salt, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    @property
    def secret(self) -> str:
        return signing.endpoint_secret(self.secret_salt)

    def wants(self, event_type: str) -> bool:
        return event_type in self.event_types

    @property
    def event_labels(self) -> list[str]:
        return [event_type for event_type in EventType.values if event_type in self.event_types]


class Delivery(models.Model):
    """One event for one endpoint: unique, so an event handed on twice (the outbox is at least once) is sent
    as one delivery. Pending until an attempt gets a 2xx (delivered) or the retries run out (failed)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey("events.Event", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Retries go on until LOYALTY_WEBHOOK_RETRY_HOURS after this: the event's hand-off, or a redelivery.
    scheduled_at = models.DateTimeField(default=timezone.now)
    # When the next attempt is due (pending only). An attempt in flight has moved it a lease ahead, so no
    # other worker takes the same delivery meanwhile, and a worker that dies mid-attempt only delays it.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_one_per_event_and_endpoint"),
            models.CheckConstraint(
                condition=Q(status="pending", next_attempt_at__isnull=False)
                | Q(~Q(status="pending"), next_attempt_at__isnull=True),
                name="delivery_next_attempt_while_pending_only",
            ),
        ]
        indexes = [
            # The periodic task's question: pending deliveries that are due.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_due_idx"),
            # An endpoint's log, newest first.
            models.Index(fields=["endpoint", "-id"], name="delivery_endpoint_log_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of event {self.event_id} to endpoint {self.endpoint_id}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    # None when nothing answered (timeout, refused connection, an address refused before connecting).
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-attempted_at", "-id"]
        indexes = [models.Index(fields=["delivery", "-attempted_at"], name="attempt_delivery_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"

    @property
    def outcome(self) -> str:
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return "no answer"
