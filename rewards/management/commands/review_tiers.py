"""Review every customer's tier. Run daily (cron); running it twice or late is safe."""

import datetime as dt

from django.core.management.base import BaseCommand

from rewards.management.arguments import local_day
from rewards.services.tiers import review_tiers


class Command(BaseCommand):
    help = (
        "Move customers down a tier at the end of the qualifying window (unless the program never downgrades) "
        "and up where imported purchases qualified them. Safe to run more than once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date", type=local_day, help="The local day to review as of, YYYY-MM-DD (default: today)."
        )

    def handle(self, *args, date: dt.date | None = None, **options):
        moved = review_tiers(day=date)
        self.stdout.write(f"Tiers reviewed: {moved['up']} up, {moved['down']} down")
