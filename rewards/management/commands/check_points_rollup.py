"""`manage.py check_points_rollup [--repair]`: prove the monthly roll-up equals the ledger, or rebuild it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from customers.models import Customer
from rewards.services.ledger import rebuild_rollup, rollup_differences


class Command(BaseCommand):
    help = "Compare the monthly points roll-up with the ledger; exit 1 listing differences. --repair rebuilds it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--repair", action="store_true", help="rebuild the roll-up from the ledger")

    def handle(self, *args, repair: bool, **options) -> None:
        differences = rollup_differences()
        if not differences:
            self.stdout.write("The roll-up equals the ledger.")
            return
        members = dict(
            Customer.objects.filter(pk__in={d.customer_id for d in differences}).values_list("pk", "member_number")
        )
        for difference in differences:
            self.stderr.write(
                f"customer {members.get(difference.customer_id, difference.customer_id)} "
                f"{difference.month:%Y-%m}: ledger {describe(difference.ledger)}, "
                f"roll-up {describe(difference.rollup)}"
            )
        count = len(differences)
        if repair:
            rows = rebuild_rollup()
            self.stdout.write(f"{count} difference(s) found; the roll-up was rebuilt from the ledger ({rows} rows).")
            return
        raise CommandError(
            f"{count} customer-month(s) where the roll-up differs from the ledger; run with --repair to rebuild it.",
            returncode=1,
        )


def describe(values: dict[str, int] | None) -> str:
    if values is None:
        return "no row"
    return " ".join(f"{name}={value}" for name, value in values.items())
