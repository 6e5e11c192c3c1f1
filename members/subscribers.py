"""The member emails that follow what happened, as subscribers of the events outbox (events.services).

Each subscriber only queues a task of its own (members.tasks) keyed by the event, so a slow mail server
never holds up the outbox's other subscribers, and a failed mail is retried on its own. Sending itself is
once per member, kind and occasion (SentMail), so an event handed on twice sends nothing twice.
"""

from __future__ import annotations

from events.models import Event, EventType
from events.services import subscribe


def on_enrolled(event: Event) -> None:
    from .tasks import mail_welcome  # the tasks import the services, which import the models: after ready()

    mail_welcome(event.data["customer"]["member_number"])


def on_purchase(event: Event) -> None:
    from .tasks import mail_after_purchase

    mail_after_purchase(event.pk)


def on_balance_change(event: Event) -> None:
    from .tasks import mail_affordable_rewards

    mail_affordable_rewards(event.data["customer"]["member_number"])


def on_tier_changed(event: Event) -> None:
    if event.data.get("direction") != "up":
        return
    from .tasks import mail_tier_reached

    mail_tier_reached(event.pk)


def register() -> None:
    subscribe(on_enrolled, EventType.CUSTOMER_ENROLLED)
    subscribe(on_purchase, EventType.PURCHASE_RECORDED)
    subscribe(on_balance_change, EventType.ADJUSTMENT_POSTED)
    subscribe(on_tier_changed, EventType.TIER_CHANGED)
