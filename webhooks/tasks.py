"""The worker's side of webhooks: turn each event into deliveries and send them; retry what is due."""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from events.models import Event

from .services import attempt_delivery, create_deliveries, due_deliveries

logger = logging.getLogger(__name__)


def deliver_event(event: Event) -> None:
    """The outbox's subscriber (registered in apps.py): one delivery per endpoint, each sent as a task of
    its own, so that a slow endpoint holds up nobody else."""
    for delivery_id in create_deliveries(event):
        send_delivery(delivery_id)


# No huey retries: a failed attempt is recorded and rescheduled in the database (next_attempt_at).
@db_task()
def send_delivery(delivery_id: int) -> bool:
    return attempt_delivery(delivery_id) is not None


@db_periodic_task(crontab(minute="*"))
def send_due_deliveries() -> int:
    """Every minute: the retries that are due, and anything a lost task or a stopped worker left behind."""
    due = due_deliveries()
    for delivery_id in due:
        send_delivery(delivery_id)
    return len(due)
