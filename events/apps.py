from django.apps import AppConfig

from ops import metrics


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events (outbox)"

    def ready(self) -> None:
        from .models import Event  # models load after the app configs

        # Served with the metrics at every scrape; counted on the partial index event_undispatched_idx.
        metrics.gauge(
            "loyalty_events_undispatched",
            "Events not yet handed to every subscriber (the sweep retries them).",
            lambda: Event.objects.filter(dispatched_at__isnull=True).count(),
        )
