"""Award this month's birthday bonuses. Run daily (cron); running it twice awards nobody twice."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from rewards.management.arguments import local_day
from rewards.services.bonuses import award_birthday_bonuses


class Command(BaseCommand):
    help = (
        "Award the program's birthday bonus to customers whose birthday month is this month (in TIME_ZONE) "
        "and who have not had it this year. Safe to run more than once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", type=local_day, help="The local day to award for, YYYY-MM-DD (default: today).")

    def handle(self, *args, date: dt.date | None = None, **options):
        try:
            awarded = award_birthday_bonuses(day=date)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Birthday bonuses awarded: {awarded}")
