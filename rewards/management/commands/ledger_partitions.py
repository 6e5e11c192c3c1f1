"""`manage.py ledger_partitions [--from YYYY-MM --to YYYY-MM]`: list the ledger's monthly partitions on
PostgreSQL and make the missing ones (as the daily job does), e.g. before importing a record from 1997."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from rewards.calendar import add_months, parse_month
from rewards.local_time import current_month
from rewards.partitions import DEFAULT, ensure_months, is_partitioned, maintain, partitions

# More months than this in one call is a typo, not a plan (a century of months is 1,200).
MOST_MONTHS = 1200


class Command(BaseCommand):
    help = (
        "Make the ledger's monthly partitions (PostgreSQL): from last month to three months ahead and every month "
        "found in the DEFAULT partition, plus --from..--to if given. Then list them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="first", metavar="YYYY-MM", help="first month to make")
        parser.add_argument("--to", dest="last", metavar="YYYY-MM", help="last month to make (default: --from)")

    def handle(self, *args, first: str | None, last: str | None, **options) -> None:
        if not is_partitioned():
            self.stdout.write("The ledger is a plain table on this database (SQLite): it has no partitions.")
            return
        months = []
        if first or last:
            try:
                start = parse_month(first or last)
                end = parse_month(last or first)
            except ValueError as error:
                raise CommandError(f"{error}: give months as YYYY-MM, e.g. --from 1997-01 --to 1997-12") from error
            if end < start:
                raise CommandError(f"--to ({end:%Y-%m}) is before --from ({start:%Y-%m}).")
            count = (end.year - start.year) * 12 + end.month - start.month + 1
            if count > MOST_MONTHS:
                raise CommandError(f"{count} months at once is more than {MOST_MONTHS}: give a shorter range.")
            months = [add_months(start, offset) for offset in range(count)]
        made = sorted({*maintain(current_month()), *ensure_months(months)})
        for month in made:
            self.stdout.write(f"made {month:%Y-%m}")
        for partition in partitions():
            shown = "DEFAULT" if partition.name == DEFAULT else f"{partition.month:%Y-%m}"
            self.stdout.write(f"{shown:>8}  {partition.name}")
