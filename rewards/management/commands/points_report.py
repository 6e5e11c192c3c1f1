"""`manage.py points_report --start YYYY-MM [--months N] [--format csv|json|table] [--output PATH] [--store CODE]`.

A thin wrapper around rewards.selectors.monthly_points, the one report query (the managers' page uses it too).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO

from django.core.management.base import BaseCommand, CommandError

import audit
from audit.services import command_line_user
from ops.replica import replica_reads
from rewards.calendar import parse_month
from rewards.exports import neutralise_formula
from rewards.management.output import destination
from rewards.selectors import MonthlyPointsReport, monthly_points
from transactions.models import Store

MAX_MONTHS = 120


class Command(BaseCommand):
    help = "Points earned per customer in each calendar month (merchant's TIME_ZONE) of a period, and in total."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--start", required=True, help="first month, YYYY-MM")
        parser.add_argument("--months", type=int, default=3, help="number of months (default 3)")
        parser.add_argument("--format", choices=["csv", "json", "table"], default="csv", dest="output_format")
        parser.add_argument("--output", help="write to this file instead of standard output")
        parser.add_argument("--store", help="only transactions of the store with this code")

    def handle(self, *args, start: str, months: int, output_format: str, output: str | None, store, **options):
        try:
            first = parse_month(start)
        except ValueError:
            raise CommandError(f"--start must be a month like 2025-01, not '{start}'") from None
        if not 1 <= months <= MAX_MONTHS:
            raise CommandError(f"--months must be between 1 and {MAX_MONTHS}")
        store_id = None
        if store:
            try:
                store_id = Store.objects.only("pk").get(code=store).pk
            except Store.DoesNotExist:
                raise CommandError(f"no store with code '{store}'") from None
        writer = {"csv": write_csv, "json": write_json, "table": write_table}[output_format]
        # A report: read from the read replica when there is one (ops.replica); the audit record below is
        # written on the primary.
        with replica_reads():
            report = monthly_points(start=first, months=months, store_id=store_id)
            with destination(self, output) as stream:
                writer(report, stream)
        audit.record(
            audit.Event.EXPORT,
            username=command_line_user(),
            detail={
                "report": "monthly points",
                "command": "points_report",
                "start": f"{first:%Y-%m}",
                "months": months,
                "format": output_format,
                "store": store or "",
                "output": output or "standard output",
            },
        )


def headings(report: MonthlyPointsReport) -> list[str]:
    return ["customer_id", "customer_name", *(column.label for column in report.months), "total"]


def records(report: MonthlyPointsReport) -> Iterator[list]:
    """The report's rows as lists in heading order, streamed from the database."""
    keys = [column.key for column in report.months]
    for row in report.rows.iterator(chunk_size=5000):
        yield [row["member_number"], row["name"], *(row[key] for key in keys), row["total"]]


def write_csv(report: MonthlyPointsReport, stream: IO[str]) -> None:
    """CSV for a spreadsheet: a name like '=HYPERLINK(...)' is written inert, as the page's export does."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(headings(report))
    writer.writerows([neutralise_formula(cell) for cell in record] for record in records(report))


def write_json(report: MonthlyPointsReport, stream: IO[str]) -> None:
    """{"months": [...], "rows": [{customer_id, customer_name, YYYY-MM..., total}, ...], "totals": {...}},
    written row by row so that memory stays flat."""
    names = headings(report)
    labels = {column.key: column.label for column in report.months} | {"total": "total"}
    stream.write('{"months": ' + json.dumps([column.label for column in report.months]) + ', "rows": [')
    for index, values in enumerate(records(report)):
        stream.write(("," if index else "") + "\n  " + json.dumps(dict(zip(names, values, strict=True))))
    # What was earned: the page's redeemed, expired and adjusted columns are not part of this interface.
    totals = {labels[key]: value for key, value in report.totals().items() if key in labels}
    stream.write('\n], "totals": ' + json.dumps(totals) + "}\n")


def write_table(report: MonthlyPointsReport, stream: IO[str]) -> None:
    """An aligned table with a totals row, for a person at a terminal (held in memory to size the columns)."""
    names = headings(report)
    body = [[str(value) for value in values] for values in records(report)]
    totals = report.totals()
    footer = ["TOTAL", "", *(str(totals[column.key]) for column in report.months), str(totals["total"])]
    widths = [max(len(row[index]) for row in [names, footer, *body]) for index in range(len(names))]

    def line(cells: list[str]) -> str:
        # Names and numbers: text to the left, figures to the right.
        return "  ".join(
            cell.ljust(width) if index < 2 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    stream.write("\n".join([line(names), rule, *(line(row) for row in body), rule, line(footer)]) + "\n")
