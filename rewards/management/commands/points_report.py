"""`manage.py points_report --start YYYY-MM [--months N] [--format csv|json|table] [--output PATH] [--store CODE]`
and `manage.py points_report --file PATH [--compare] [--start YYYY-MM --months N] [...]`.

A thin wrapper around rewards.selectors.monthly_points, the one report query (the managers' page uses it too),
and, with --file, around transactions.importing.file_points: the import's own stages on a file, writing nothing
(an accountant checking a till system's export against the program's rules, and with --compare against the books).
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
from rewards.models import CustomerMonthPoints
from rewards.selectors import SPENT_KEYS, MonthColumn, MonthlyPointsReport, month_columns, monthly_points
from transactions.importing import FilePoints, file_points
from transactions.models import Store

MAX_MONTHS = 120


class Command(BaseCommand):
    help = "Points earned per customer in each calendar month (merchant's TIME_ZONE) of a period, and in total."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--start", help="first month, YYYY-MM (with --file: by default the file's first month)")
        parser.add_argument("--months", type=int, help="number of months (default 3; with --file, the file's)")
        parser.add_argument("--format", choices=["csv", "json", "table"], default="csv", dest="output_format")
        parser.add_argument("--output", help="write to this file instead of standard output")
        parser.add_argument("--store", help="only transactions of the store with this code")
        parser.add_argument(
            "--file", help="report the points of this CSV record (the import's format) under the program's rules, "
            "writing nothing",
        )  # fmt: skip
        parser.add_argument(
            "--compare", action="store_true", help="with --file: list the customer-months where the file's points "
            "and the books differ (exit status 1 if any)",
        )  # fmt: skip

    def handle(self, *args, start, months, output_format: str, output: str | None, store, file, compare, **options):
        if compare and not file:
            raise CommandError("--compare needs --file")
        if file:
            if store:
                raise CommandError("--store is not for --file: the file names each row's store")
            return self.from_file(file, start, months, output_format, output, compare)
        if not start:
            raise CommandError("--start is required (a month like 2025-01), or --file")
        first = self.month(start)
        months = 3 if months is None else months
        self.check_months(months)
        store_id = None
        if store:
            try:
                store_id = Store.objects.only("pk").get(code=store).pk
            except Store.DoesNotExist:
                raise CommandError(f"no store with code '{store}'") from None
        # A report: read from the read replica when there is one (ops.replica); the audit record is written
        # on the primary.
        with replica_reads():
            report = monthly_points(start=first, months=months, store_id=store_id)
            self.write(report, output_format, output)
        self.record(start=f"{first:%Y-%m}", months=months, output_format=output_format, store=store, output=output)

    @staticmethod
    def month(start: str):
        try:
            return parse_month(start)
        except ValueError:
            raise CommandError(f"--start must be a month like 2025-01, not '{start}'") from None

    @staticmethod
    def check_months(months: int) -> None:
        if not 1 <= months <= MAX_MONTHS:
            raise CommandError(f"--months must be between 1 and {MAX_MONTHS}")

    def write(self, report, output_format: str, output: str | None) -> None:
        writer = {"csv": write_csv, "json": write_json, "table": write_table}[output_format]
        with destination(self, output) as stream:
            writer(report, stream)

    @staticmethod
    def record(**detail) -> None:
        audit.record(
            audit.Event.EXPORT,
            username=command_line_user(),
            detail={
                "report": "monthly points",
                "command": "points_report",
                "start": detail["start"],
                "months": detail["months"],
                "format": detail["output_format"],
                "store": detail.get("store") or "",
                "output": detail["output"] or "standard output",
                **({"file": detail["file"], "compare": detail["compare"]} if "file" in detail else {}),
            },
        )

    def from_file(self, path: str, start, months, output_format: str, output: str | None, compare: bool) -> None:
        """The file's points per customer and month (the months given, or the file's own), or with --compare
        the customer-months where they differ from the books' (the monthly roll-up)."""
        first = self.month(start) if start else None
        if months is not None:
            self.check_months(months)
        try:
            found = file_points(path)
        except FileNotFoundError:
            raise CommandError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise CommandError(f"{path} is a directory, not a file") from None
        result = found.result
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error))
            if result.error_count > len(result.errors):
                self.stderr.write(f"… and {result.error_count - len(result.errors)} more bad rows")
            raise CommandError(
                f"{result.error_count} bad row{'s' if result.error_count != 1 else ''} in {result.rows_read} rows "
                "read: no report.",
                returncode=1,
            )
        if first is None:
            first = found.months[0] if found.months else None
        if months is None:
            months = _months_between(first, found.months[-1]) if first and found.months else 1
            if months > MAX_MONTHS:
                raise CommandError(
                    f"the file spans {months} months: choose at most {MAX_MONTHS} with --start and --months"
                )
        columns = month_columns(first, months) if first else []
        detail = {
            "start": f"{first:%Y-%m}" if first else "", "months": months, "output_format": output_format,
            "output": output, "file": path, "compare": compare,
        }  # fmt: skip
        if compare:
            differences = compare_with_books(found, columns)
            with destination(self, output) as stream:
                write_differences(differences, stream, output_format)
            self.record(**detail)
            if differences:
                raise CommandError(
                    f"{len(differences)} customer-month{'s' if len(differences) != 1 else ''} differ "
                    "between the file and the books",
                    returncode=1,
                )
            self.stderr.write("The file's points equal the books' in every customer-month.")
            return
        self.write(FileReport.of(found, columns), output_format, output)
        self.record(**detail)


def _months_between(first, last) -> int:
    return (last.year - first.year) * 12 + last.month - first.month + 1


class _Rows(list):
    """A report's rows held in memory, read as the writers read a queryset's."""

    def iterator(self, chunk_size: int = 0):
        return iter(self)


class FileReport:
    """A file's points in the shape of MonthlyPointsReport, for the same writers."""

    def __init__(self, months: list[MonthColumn], rows: list[dict]) -> None:
        self.months = months
        self.rows = _Rows(rows)

    @classmethod
    def of(cls, found: FilePoints, columns: list[MonthColumn]) -> FileReport:
        rows = []
        wanted = {column.month for column in columns}
        for (member, name), by_month in sorted(found.points.items()):
            if not wanted.intersection(by_month):
                continue
            row = {"member_number": member, "name": name}
            row.update({column.key: by_month.get(column.month, 0) for column in columns})
            row["total"] = sum(row[column.key] for column in columns)
            rows.append(row)
        return cls(columns, rows)

    def totals(self) -> dict[str, int]:
        keys = [column.key for column in self.months] + ["total"]
        totals = {key: sum(row[key] for row in self.rows) for key in keys}
        return totals | dict.fromkeys(SPENT_KEYS, 0)


def compare_with_books(found: FilePoints, columns: list[MonthColumn]) -> list[list]:
    """[member, name, month, file, books, difference] of each customer-month of the period where the file's
    points (earned less refunds' reversals) and the books' (the roll-up's same figure) differ, by member number
    and month. A customer-month the books have and the file has not counts as 0 in the file, and the reverse."""
    months = [column.month for column in columns]
    books: dict[tuple[str, object], int] = {}
    names: dict[str, str] = {}
    for member, name, month, *figures in CustomerMonthPoints.objects.filter(month__in=months).values_list(
        "customer__member_number", "customer__name", "month", *CustomerMonthPoints.EARNED
    ):
        books[(member, month)] = sum(figures)
        names[member] = name
    in_file: dict[tuple[str, object], int] = {}
    for (member, name), by_month in found.points.items():
        names.setdefault(member, name)
        for month, points in by_month.items():
            if month in months:
                in_file[(member, month)] = points
    differences = []
    for member, month in sorted(in_file.keys() | books.keys()):
        ours, theirs = in_file.get((member, month), 0), books.get((member, month), 0)
        if ours != theirs:
            differences.append([member, names[member], f"{month:%Y-%m}", ours, theirs, ours - theirs])
    return differences


def write_differences(differences: list[list], stream: IO[str], output_format: str) -> None:
    names = ["customer_id", "customer_name", "month", "file", "books", "difference"]
    if output_format == "json":
        stream.write(json.dumps([dict(zip(names, row, strict=True)) for row in differences], indent=1) + "\n")
        return
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([neutralise_formula(cell) for cell in row] for row in differences)


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
