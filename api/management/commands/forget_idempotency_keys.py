"""`manage.py forget_idempotency_keys`: what the worker does daily, for cron."""

from django.conf import settings
from django.core.management.base import BaseCommand

from ...tasks import forget_idempotency_keys


class Command(BaseCommand):
    help = "Forget the answers kept for Idempotency-Key retries older than LOYALTY_API_IDEMPOTENCY_DAYS."

    def handle(self, *args, **options) -> None:
        deleted = forget_idempotency_keys()
        self.stdout.write(f"Forgot {deleted} idempotency keys older than {settings.LOYALTY_API_IDEMPOTENCY_DAYS} days.")
