from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from events.services import subscribe
        from ops import metrics

        from .models import Delivery
        from .tasks import deliver_event

        # Every type: each endpoint says which it wants, and the subscriber asks the endpoints.
        subscribe(deliver_event)
        # Served with the metrics at every scrape: deliveries that failed at least once and are still retried
        # (pending ones are few, on the partial index delivery_due_idx).
        metrics.gauge(
            "loyalty_webhook_deliveries_retrying",
            "Webhook deliveries that failed at least once and are waiting for their next attempt.",
            lambda: Delivery.objects.filter(status=Delivery.Status.PENDING, attempts__gt=0).count(),
        )
