from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from events.services import subscribe

        from .tasks import deliver_event

        # Every type: each endpoint says which it wants, and the subscriber asks the endpoints.
        subscribe(deliver_event)
