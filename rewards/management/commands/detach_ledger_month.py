"""`manage.py detach_ledger_month YYYY-MM [--archive DIR]`: take a month closed in the books out of the
partitioned ledger (PostgreSQL), and with --archive dump it with pg_dump and drop it (rewards.services.archive
says what stays in the ledger and what members' figures carry)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rewards.calendar import parse_month
from rewards.partitions import PartitionRefused, kept_partition_name
from rewards.services.archive import detach_month


class Command(BaseCommand):
    help = (
        "Detach a closed month's partition from the ledger (PostgreSQL). Refused, changing nothing, for an open month "
        "or one detached before. Entries something refers to or with a once-only key stay in the ledger; members' "
        "balances and stamp cards carry the rest. --archive DIR writes it there with pg_dump and drops the table."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("month", metavar="YYYY-MM")
        parser.add_argument("--archive", metavar="DIR", help="dump the detached month there (pg_dump), then drop it")

    def handle(self, *args, month: str, archive: str | None, **options) -> None:
        try:
            first_day = parse_month(month)
        except ValueError as error:
            raise CommandError(f"{error}: give the month as YYYY-MM, e.g. 2025-03") from error
        try:
            detached = detach_month(first_day, archive_dir=Path(archive) if archive else None)
        except PartitionRefused as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{detached.table}: {detached.entries} entries ({detached.points:+,} points) detached from the ledger"
            + (f" and archived to {detached.archive}" if detached.archive else "; the table is kept, not attached")
            + ". The monthly and liability roll-ups keep the month's sums"
            + (
                f"; {detached.kept} entries that something refers to or that carry a once-only key stay in the ledger"
                f" ({kept_partition_name(detached.month)})"
                if detached.kept
                else ""
            )
            + "; members' balances and stamp cards carry the rest."
        )
