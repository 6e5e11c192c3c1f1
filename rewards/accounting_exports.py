"""The accountant's figures as rows for a file: the pages' CSV/XLSX downloads and `manage.py liability_report`.

One layout for both, so a downloaded file and the command's output agree. Money is exact (a point value has
four decimal places) and revenue is in cents; every text cell goes through the reports' formula neutralising.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from decimal import Decimal

import tablib

from .accounting import BreakageMonth, RollForwardMonth
from .exports import neutralise_formula
from .liability import LINES, TOTAL, Ageing, LiabilityReport, Scope


def _key(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


# "Issued without sales (bonuses)" -> issued_without_sales_bonuses
LINE_KEYS = tuple(_key(label) for _kind, label in LINES)
BREAKAGE_HEADERS = (
    "redemption_rate_observed",
    "breakage_rate",
    "breakage_rate_source",
    "sale_linked_share",
    "revenue_from_redemptions",
    "revenue_from_breakage",
    "breakage_recognised_to_date",
    "expected_breakage_points",
    "expected_breakage_money",
)


def roll_forward_headers(with_breakage: bool = True) -> list[str]:
    headers = ["scope", "store_code", "month", "opening_points", "opening_money"]
    for key in LINE_KEYS:
        headers += [f"{key}_points", f"{key}_money"]
    headers += ["revaluation_money", "closing_points", "closing_money", "point_value_at_close"]
    return headers + (list(BREAKAGE_HEADERS) if with_breakage else [])


def _rate(value: Decimal | None) -> Decimal | str:
    return "" if value is None else value.quantize(Decimal("0.000001"))


def breakage_cells(month: BreakageMonth) -> list:
    return [
        _rate(month.observed_rate),
        _rate(month.breakage_rate),
        month.source,
        _rate(month.sale_share),
        month.redemption_revenue,
        month.breakage_revenue,
        month.breakage_to_date,
        month.expected_breakage.points,
        month.expected_breakage.money,
    ]


def _month_cells(scope: Scope, month: RollForwardMonth) -> list:
    cells = [scope.label, scope.code, f"{month.month:%Y-%m}", month.opening.points, month.opening.money]
    for line in month.lines:
        cells += [line.points, line.money]
    return [*cells, month.revaluation, month.closing.points, month.closing.money, month.closing_value]


def roll_forward_rows(report: LiabilityReport) -> Iterator[list]:
    """The whole program's months (with breakage and revenue), then each store's (no store last)."""
    for month, broken in zip(report.total, report.breakage, strict=True):
        yield _month_cells(TOTAL, month) + breakage_cells(broken)
    for scope, months in report.stores:
        for month in months:
            yield _month_cells(scope, month) + [""] * len(BREAKAGE_HEADERS)


def breakage_headers() -> list[str]:
    return ["month", *BREAKAGE_HEADERS]


def breakage_rows(report: LiabilityReport) -> Iterator[list]:
    for month in report.breakage:
        yield [f"{month.month:%Y-%m}", *breakage_cells(month)]


def ageing_headers() -> list[str]:
    return ["as_of", "row", "points", "money"]


def ageing_rows(ageing: Ageing) -> Iterator[list]:
    as_of = f"{ageing.as_of:%Y-%m}"
    for bucket in ageing.buckets:
        yield [as_of, f"outstanding, earned {bucket.label.lower()} before", bucket.points, bucket.money]
    yield [as_of, "in no lot (see the page)", ageing.unallocated, ageing.unallocated * ageing.value]
    yield [as_of, "balance at the month's end", ageing.balance, ageing.balance * ageing.value]
    for month, points in ageing.lapses:
        yield [as_of, f"lapses at the start of {month:%Y-%m}", points, points * ageing.value]


def dataset(headers: Sequence[str], rows, *, title: str) -> tablib.Dataset:
    """A tablib Dataset of the rows, every cell neutralised against spreadsheet formulas."""
    data = tablib.Dataset(headers=list(headers), title=title[:31])
    for row in rows:
        data.append([neutralise_formula(cell) for cell in row])
    return data
