"""`manage.py check_liability [--repair]`: prove the liability roll-forward from the ledger, or rebuild its roll-up."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from rewards.services.liability import LiabilityProof, prove_liability, rebuild_liability


class Command(BaseCommand):
    help = (
        "Prove the liability roll-forward: its roll-up equals the ledger, every month's closing balance equals the "
        "sum of all members' balances at the month's end (in money too), and closed months reproduce their figures. "
        "Exit 1 listing what differs. --repair rebuilds the roll-up from the ledger first."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--repair", action="store_true", help="rebuild the liability roll-up from the ledger first")

    def handle(self, *args, repair: bool, **options) -> None:
        if repair:
            rows = rebuild_liability()
            self.stdout.write(f"The liability roll-up was rebuilt from the ledger ({rows} rows).")
        proof = prove_liability()
        self.report(proof)
        if not proof.ok:
            raise CommandError(
                "The liability roll-forward does NOT agree with the ledger (see above)"
                + ("" if repair else "; run with --repair to rebuild its roll-up from the ledger")
                + ".",
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Proved: the roll-up equals the ledger, and in each of {len(proof.months)} month(s) the closing "
                "balance equals the sum of all members' balances at the month's end."
            )
        )

    def report(self, proof: LiabilityProof) -> None:
        for difference in proof.differences:
            self.stderr.write(
                f"roll-up differs from the ledger: {difference.month:%Y-%m} store {difference.store_key or 'none'} "
                f"{difference.kind} value #{difference.point_value_id}: ledger {_pair(difference.ledger)}, "
                f"roll-up {_pair(difference.rollup)}"
            )
        for month in proof.months:
            line = (
                f"{month.month:%Y-%m}  closing {month.closing_points:>15,} points = members' balances "
                f"{month.balances:>15,}  money {month.closing_money:>18,.4f} = {month.money_at_value:,.4f}"
            )
            if month.ok:
                self.stdout.write(line + "  ok")
            else:
                self.stderr.write(line + "  DIFFERS")
        for month, found in proof.closes:
            if found:
                for difference in found:
                    self.stderr.write(f"closed {month:%Y-%m} no longer reproduces: {difference}")
            else:
                self.stdout.write(f"closed {month:%Y-%m} reproduces its figures exactly")


def _pair(values: tuple[int, int] | None) -> str:
    return "no row" if values is None else f"{values[0]} points in {values[1]} entries"
