"""Award this month's birthday bonuses. Run daily (cron); running it twice awards nobody twice."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from rewards.services import award_birthday_bonuses


class Command(BaseCommand):
    help = (
        "Award the program's birthday bonus to customers whose birthday month is this month (in TIME_ZONE) "
        "and who have not had it this year. Safe to run more than once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="The local day to award for, YYYY-MM-DD (default: today).")

    def handle(self, *args, date: str | None = None, **options):
        day = None
        if date:
            try:
                day = dt.date.fromisoformat(date)
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD, not {date!r}") from exc
        try:
            awarded = award_birthday_bonuses(day=day)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Birthday bonuses awarded: {awarded}")
