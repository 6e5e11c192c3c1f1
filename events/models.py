import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventType(models.TextChoices):
    """What can happen that another system or a member may want to hear about. Declared once: webhook
    endpoints subscribe to these, the API documents them, the member emails react to some."""

    CUSTOMER_ENROLLED = "customer.enrolled", "A customer enrolled"
    PURCHASE_RECORDED = "purchase.recorded", "A purchase was recorded"
    REFUND_RECORDED = "refund.recorded", "A refund was recorded"
    REDEMPTION_RECORDED = "redemption.recorded", "A reward was redeemed (or a redemption undone)"
    TIER_CHANGED = "tier.changed", "A customer's tier changed"
    POINTS_EXPIRED = "points.expired", "Points expired"
    ADJUSTMENT_POSTED = "adjustment.posted", "A manual adjustment was posted"


class Event(models.Model):
    """Something that happened, written in the same database transaction as the change it reports (the
    outbox): no event is lost when the change commits, and none exists for a change that rolled back.

    The background worker hands each event to the subscribers (webhooks, member emails) after the commit;
    `dispatched_at` is set once every subscriber has taken it, and a periodic sweep hands on any event a
    lost enqueue left behind. Append-only apart from that one column.
    """

    # The id other systems see (webhook bodies, de-duplication on their side).
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    created = models.DateTimeField(default=timezone.now)
    data = models.JSONField()
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The sweep: events not yet handed on.
            models.Index(fields=["id"], condition=Q(dispatched_at__isnull=True), name="event_undispatched_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"

    @property
    def wire_id(self) -> str:
        return f"evt_{self.public_id.hex}"

    def as_message(self) -> dict:
        """The event as other systems receive it: {"id", "type", "created", "data"}."""
        return {"id": self.wire_id, "type": self.type, "created": self.created.isoformat(), "data": self.data}
