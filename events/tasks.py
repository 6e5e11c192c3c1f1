"""The worker's side of the outbox: hand each event on after its commit, and sweep up any left behind."""

import datetime as dt
import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from .services import dispatch, undispatched

logger = logging.getLogger(__name__)


# Retries cover a subscriber failing for a moment (a database hiccup); the sweep covers everything else.
@db_task(retries=3, retry_delay=10)
def dispatch_event(event_id: int) -> bool:
    return dispatch(event_id)


@db_periodic_task(crontab(minute="*"))
def sweep_events() -> int:
    handed_on = 0
    for event_id in undispatched(older_than=dt.timedelta(minutes=2)):
        try:
            handed_on += dispatch(event_id)
        except Exception:  # one bad event must not stop the others; it stays undispatched
            logger.exception("event %s could not be dispatched", event_id)
    return handed_on
