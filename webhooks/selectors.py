"""Reads for the webhook pages: a fixed number of queries whatever the log's length."""

from __future__ import annotations

from django.db.models import Count, Max, Q, QuerySet

from .models import Delivery, Endpoint


def endpoints_with_log_summary() -> QuerySet[Endpoint]:
    """Every endpoint with its deliveries counted by status and its last attempt's time (one query)."""
    return Endpoint.objects.annotate(
        pending=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.PENDING)),
        failed=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.FAILED)),
        delivered=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.DELIVERED)),
        last_attempt_at=Max("deliveries__last_attempt_at"),
    ).order_by("id")


def delivery_log(endpoint: Endpoint, *, status: str = "") -> QuerySet[Delivery]:
    """An endpoint's deliveries, newest first, with their events (delivery_endpoint_log_idx serves it)."""
    deliveries = Delivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-id")
    return deliveries.filter(status=status) if status else deliveries
