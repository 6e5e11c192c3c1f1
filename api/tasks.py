"""The API's daily job: forget the answers kept for Idempotency-Key retries once they are old enough."""

import datetime as dt

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .models import IdempotencyRecord


def forget_idempotency_keys() -> int:
    """Delete records older than LOYALTY_API_IDEMPOTENCY_DAYS (idempotency_created_idx); the number deleted."""
    before = timezone.now() - dt.timedelta(days=settings.LOYALTY_API_IDEMPOTENCY_DAYS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=before).delete()
    return deleted


@db_periodic_task(crontab(hour="1", minute="15"))
def forget_idempotency_keys_daily() -> None:
    forget_idempotency_keys()
