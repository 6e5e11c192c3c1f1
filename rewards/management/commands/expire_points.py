"""Post the expiry of points that lapsed. Run daily (cron); running it twice or late is safe."""

import datetime as dt

from django.core.management.base import BaseCommand

from rewards.management.arguments import local_day
from rewards.services.expiry import expire_points


class Command(BaseCommand):
    help = (
        "Expire the points that lapsed by the given day under the expiry rule in force when they were earned. "
        "Safe to run more than once; run late, it catches up exactly (entries are dated when the points lapsed)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date", type=local_day, help="The local day to expire up to, YYYY-MM-DD (default: today)."
        )

    def handle(self, *args, date: dt.date | None = None, **options):
        self.stdout.write(f"Expiry entries posted: {expire_points(day=date)}")
