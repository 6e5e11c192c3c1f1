"""`manage.py check_points_rollup [--repair]`: prove the monthly roll-up equals the ledger, and the monthly
report's windows and their counts equal the roll-up; or rebuild them."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from customers.models import Customer
from rewards.services.ledger import rebuild_rollup, rebuild_windows, rollup_differences, window_differences


class Command(BaseCommand):
    help = (
        "Compare the monthly points roll-up with the ledger, and the monthly report's windows with the roll-up; "
        "exit 1 listing differences. --repair rebuilds what differs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--repair", action="store_true", help="rebuild the roll-up from the ledger")

    def handle(self, *args, repair: bool, **options) -> None:
        differences = rollup_differences()
        windows = window_differences()
        if not differences and not windows:
            # The report's windows are part of the roll-up: one line says both are proved.
            self.stdout.write("The roll-up equals the ledger.")
            return
        members = dict(
            Customer.objects.filter(
                pk__in={d.customer_id for d in differences} | {w.customer_id for w in windows if w.customer_id}
            ).values_list("pk", "member_number")
        )
        for difference in differences:
            self.stderr.write(
                f"customer {members.get(difference.customer_id, difference.customer_id)} "
                f"{difference.month:%Y-%m}: ledger {describe(difference.ledger)}, "
                f"roll-up {describe(difference.rollup)}"
            )
        for window in windows:
            whose = (
                f"customer {members.get(window.customer_id, window.customer_id)}"
                if window.customer_id is not None
                else f"count shard {window.shard}"
            )
            self.stderr.write(
                f"{whose} window from {window.start_month:%Y-%m}: roll-up {describe(window.expected)}, "
                f"window {describe(window.found)}"
            )
        if repair:
            if differences:
                rows = rebuild_rollup()  # the windows with it
                self.stdout.write(
                    f"{len(differences)} difference(s) found; the roll-up was rebuilt from the ledger ({rows} rows), "
                    f"and the report's windows from it."
                )
            else:
                rows = rebuild_windows()
                self.stdout.write(
                    f"{len(windows)} window difference(s) found; the report's windows were rebuilt from the "
                    f"roll-up ({rows} windows)."
                )
            return
        if differences:
            raise CommandError(
                f"{len(differences)} customer-month(s) where the roll-up differs from the ledger"
                + (f", {len(windows)} report window(s) or count(s) that differ from the roll-up" if windows else "")
                + "; run with --repair to rebuild it.",
                returncode=1,
            )
        raise CommandError(
            f"{len(windows)} report window(s) or count(s) that differ from the roll-up; run with --repair to "
            f"rebuild them.",
            returncode=1,
        )


def describe(values: dict[str, int] | None) -> str:
    if values is None:
        return "no row"
    return " ".join(f"{name}={value}" for name, value in values.items())
