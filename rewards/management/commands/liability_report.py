"""`manage.py liability_report --start YYYY-MM --months N [--format csv|json|table] [--output PATH]`.

The points liability roll-forward of a period, in total (with breakage and revenue) and per store, in points
and money: the accounting pages' own selector (rewards.liability) and file layout (rewards.accounting_exports).
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from typing import IO

from django.core.management.base import BaseCommand, CommandError

import audit
from audit.services import command_line_user
from ops.replica import replica_reads
from rewards.accounting import RollForwardMonth
from rewards.accounting_exports import roll_forward_headers, roll_forward_rows
from rewards.calendar import parse_month
from rewards.exports import neutralise_formula
from rewards.liability import LINES, TOTAL, LiabilityReport, liability_report
from rewards.management.output import destination

MAX_MONTHS = 120


class Command(BaseCommand):
    help = (
        "The points liability roll-forward of a period (months in the merchant's TIME_ZONE), in total and per "
        "store, in points and money, with breakage and the revenue recognised."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--start", required=True, help="first month, YYYY-MM")
        parser.add_argument("--months", type=int, default=3, help="number of months (default 3)")
        parser.add_argument("--format", choices=["csv", "json", "table"], default="table", dest="output_format")
        parser.add_argument("--output", help="write to this file instead of standard output")

    def handle(self, *args, start: str, months: int, output_format: str, output: str | None, **options) -> None:
        try:
            first = parse_month(start)
        except ValueError:
            raise CommandError(f"--start must be a month like 2025-01, not '{start}'") from None
        if not 1 <= months <= MAX_MONTHS:
            raise CommandError(f"--months must be between 1 and {MAX_MONTHS}")
        writer = {"csv": write_csv, "json": write_json, "table": write_table}[output_format]
        # A report: read from the read replica when there is one (ops.replica); the audit record below is
        # written on the primary.
        with replica_reads():
            report = liability_report(start=first, months=months)
            with destination(self, output) as stream:
                writer(report, stream)
        audit.record(
            audit.Event.EXPORT,
            username=command_line_user(),
            detail={
                "report": "points liability",
                "command": "liability_report",
                "start": f"{first:%Y-%m}",
                "months": months,
                "format": output_format,
                "output": output or "standard output",
            },
        )


def write_csv(report: LiabilityReport, stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(roll_forward_headers())
    writer.writerows([neutralise_formula(cell) for cell in row] for row in roll_forward_rows(report))


def _amount(points: int, money: Decimal) -> dict:
    return {"points": points, "money": str(money)}


def _month(month: RollForwardMonth) -> dict:
    return {
        "month": f"{month.month:%Y-%m}",
        "opening": _amount(month.opening.points, month.opening.money),
        "lines": [{"kind": line.kind, "line": line.label, **_amount(line.points, line.money)} for line in month.lines],
        "revaluation": str(month.revaluation),
        "closing": _amount(month.closing.points, month.closing.money),
        "point_value_at_close": str(month.closing_value),
    }


def write_json(report: LiabilityReport, stream: IO[str]) -> None:
    """{"months", "total": [...], "stores": [{"store", "code", "months": [...]}], "breakage": [...]}"""
    document = {
        "months": [f"{month:%Y-%m}" for month in report.months],
        "total": [_month(month) for month in report.total],
        "stores": [
            {"store": scope.label, "code": scope.code, "months": [_month(month) for month in months]}
            for scope, months in report.stores
        ],
        "breakage": [
            {
                "month": f"{month.month:%Y-%m}",
                "redemption_rate_observed": None if month.observed_rate is None else str(month.observed_rate),
                "breakage_rate": str(month.breakage_rate),
                "breakage_rate_source": month.source,
                "sale_linked_share": str(month.sale_share),
                "revenue_from_redemptions": str(month.redemption_revenue),
                "revenue_from_breakage": str(month.breakage_revenue),
                "breakage_recognised_to_date": str(month.breakage_to_date),
                "expected_breakage": _amount(month.expected_breakage.points, month.expected_breakage.money),
            }
            for month in report.breakage
        ],
    }
    stream.write(json.dumps(document, indent=2) + "\n")


def _pair(points: int | None, money: Decimal) -> list[str]:
    return ["" if points is None else f"{points:,}", f"{money:,.2f}"]


def write_table(report: LiabilityReport, stream: IO[str]) -> None:
    """One block per scope (all stores first): the roll-forward's lines down, each month's points and money
    across (money rounded to the cent here; the CSV and JSON keep it exact), for a person at a terminal."""
    blocks = [(TOTAL.label, report.total), *((scope.label, months) for scope, months in report.stores)]
    out = []
    for title, months in blocks:
        heading = ["", *[cell for month in months for cell in (f"{month.month:%Y-%m} points", "money")]]
        rows = [["Opening balance", *[c for m in months for c in _pair(m.opening.points, m.opening.money)]]]
        for index, (_kind, label) in enumerate(LINES):
            rows.append([label, *[c for m in months for c in _pair(m.lines[index].points, m.lines[index].money)]])
        rows.append(["Revaluation", *[c for m in months for c in _pair(None, m.revaluation)]])
        rows.append(["Closing balance", *[c for m in months for c in _pair(m.closing.points, m.closing.money)]])
        widths = [max(len(row[index]) for row in [heading, *rows]) for index in range(len(heading))]
        out.append(title)
        for row in [heading, *rows]:
            cells = (
                cell.ljust(width) if index == 0 else cell.rjust(width)
                for index, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            out.append("  ".join(cells).rstrip())
        out.append("")
    stream.write("\n".join(out))
