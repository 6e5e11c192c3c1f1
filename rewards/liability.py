"""Reads for the accountant: the liability roll-forward, breakage and revenue, ageing and the lapses ahead.

The roll-forward and breakage read the liability roll-up (StoreMonthPoints: a few rows per month, whatever the
size of the ledger) and do the arithmetic in rewards.accounting; ageing walks each customer's lots from the
monthly roll-up with the expiry code's own walk (rewards.engine.lots_left, lapses). Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby

from transactions.models import Store

from . import accounting, engine
from .accounting import Amount, BreakageMonth, Movement, RollForwardMonth, Version
from .calendar import add_months, months_from
from .local_time import current_month, local_midnight
from .models import (
    KIND_ACCOUNTING,
    SALE_LINKED_KINDS,
    BreakageEstimate,
    CustomerMonthPoints,
    LedgerKind,
    MonthClose,
    PointsEntry,
    StoreMonthPoints,
)
from .selectors import ROLLUP_FIELDS, ExpiryTimeline, lot_of_key, months_of_points, point_value_versions

# The roll-forward's lines: every ledger kind, in the order and with the words declared with the kinds.
LINES: tuple[tuple[str, str], ...] = tuple((kind, accounting.line) for kind, accounting in KIND_ACCOUNTING.items())
NO_STORE_LABEL = "No store"
NO_STORE_NOTE = "enrolment, birthday and feedback bonuses, adjustments and expiries, which no store made"


@dataclass(frozen=True)
class Scope:
    """Whose roll-forward: one store, the points of no store, or (store_key None) the whole program."""

    store_key: int | None
    label: str
    code: str  # for links and exports: the store's code, "none", or "" for the whole program


TOTAL = Scope(None, "All stores", "")


def versions() -> list[Version]:
    return [Version(v.pk, v.effective_from, v.value) for v in point_value_versions()]


def movements(through: dt.date) -> list[Movement]:
    """Every row of the liability roll-up up to month `through` (one query over a small table)."""
    return [
        Movement(month, store_key, kind, version_id, points)
        for month, store_key, kind, version_id, points in StoreMonthPoints.objects.filter(month__lte=through)
        .order_by("month")
        .values_list("month", "store_key", "kind", "point_value_id", "points")
    ]


def scopes(rows: Sequence[Movement]) -> list[Scope]:
    """The stores that have any points in `rows` (one query), by name, then the points of no store."""
    keys = {row.store_key for row in rows}
    stores = Store.objects.filter(pk__in=keys - {StoreMonthPoints.NO_STORE}).order_by("name")
    found = [Scope(store.pk, store.name, store.code) for store in stores]
    found += [Scope(key, f"Store #{key}", str(key)) for key in sorted(keys - {s.store_key for s in found} - {0})]
    if StoreMonthPoints.NO_STORE in keys:
        found.append(Scope(StoreMonthPoints.NO_STORE, NO_STORE_LABEL, "none"))
    return found


def estimates() -> list[BreakageEstimate]:
    return list(
        BreakageEstimate.objects.filter(program__is_default=True).select_related("set_by").order_by("effective_month")
    )


def manual_rate_of(history: Sequence[BreakageEstimate]):
    """month -> the merchant's breakage estimate in force (percent), or None for the observed rate."""

    def rate(month: dt.date) -> Decimal | None:
        found = None
        for estimate in history:
            if estimate.effective_month <= month:
                found = estimate.rate
        return found

    return rate


@dataclass(frozen=True)
class LiabilityReport:
    months: list[dt.date]
    total: list[RollForwardMonth]
    stores: list[tuple[Scope, list[RollForwardMonth]]]
    breakage: list[BreakageMonth]
    versions: list[Version]
    estimates: list[BreakageEstimate]

    def scope(self, code: str | None) -> tuple[Scope, list[RollForwardMonth]]:
        """The roll-forward of the store with this code ("none": no store), or the whole program's."""
        for scope, months in self.stores:
            if code and scope.code == code:
                return scope, months
        return TOTAL, self.total


def roll_forward_of(rows, all_versions, months, store_key=None) -> list[RollForwardMonth]:
    return accounting.roll_forward(rows, all_versions, months, starts=local_midnight, lines=LINES, store_key=store_key)


def breakage_of(rows, all_versions, history, through: dt.date) -> list[BreakageMonth]:
    """Breakage of every month from the program's first to `through` (its figures are cumulative)."""
    if not rows:
        return []
    first = min(row.month for row in rows)
    span = months_from(first, accounting.months_between(first, through) + 1)
    totals = [
        accounting.MonthTotals(
            month=month.month,
            points={line.kind: line.points for line in month.lines},
            money={line.kind: line.money for line in month.lines},
            closing=month.closing,
        )
        for month in roll_forward_of(rows, all_versions, span)
    ]
    return accounting.breakage(
        totals,
        manual_rate=manual_rate_of(history),
        kinds={"redemption": LedgerKind.REDEMPTION, "expiry": LedgerKind.EXPIRY},
        sale_linked=SALE_LINKED_KINDS,
    )


def liability_report(*, start: dt.date, months: int) -> LiabilityReport:
    """The roll-forward of a period, in total and per store, with breakage and revenue (four queries)."""
    period = months_from(start, months)
    rows = movements(period[-1])
    all_versions = versions()
    history = estimates()
    by_month = {month.month: month for month in breakage_of(rows, all_versions, history, period[-1])}
    empty = _empty_breakage(history)
    return LiabilityReport(
        months=period,
        total=roll_forward_of(rows, all_versions, period),
        stores=[(scope, roll_forward_of(rows, all_versions, period, scope.store_key)) for scope in scopes(rows)],
        breakage=[by_month.get(month) or empty(month) for month in period],
        versions=all_versions,
        estimates=history,
    )


def _empty_breakage(history):
    """A month before the program's first points: nothing to recognise."""
    manual = manual_rate_of(history)

    def empty(month: dt.date) -> BreakageMonth:
        rate = manual(month)
        zero = Decimal(0)
        return BreakageMonth(
            month=month, redeemed_to_date=0, expired_to_date=0, observed_rate=None,
            source=accounting.NO_EVIDENCE if rate is None else accounting.MANUAL, manual_rate=rate,
            breakage_rate=(rate or zero) / 100, sale_share=zero, redemption_revenue=zero, breakage_revenue=zero,
            breakage_to_date=zero, expected_breakage=Amount(0, zero),
        )  # fmt: skip

    return empty


# ---------------------------------------------------------------------------------------------------
# A month's figures as closed: what MonthClose keeps, and what must reproduce exactly later.


def _amount(amount: Amount) -> dict:
    return {"points": amount.points, "money": f"{amount.money:.4f}"}


def _month_figures(month: RollForwardMonth) -> dict:
    return {
        "opening": _amount(month.opening),
        "lines": {line.kind: _amount(Amount(line.points, line.money)) for line in month.lines},
        "revaluation": f"{month.revaluation:.4f}",
        "closing": _amount(month.closing),
    }


def figures_of(report: LiabilityReport, index: int) -> dict:
    """The figures of the `index`th month of a report: its roll-forward (in total and per store) and its breakage
    and revenue, as plain JSON."""
    broken = report.breakage[index]
    return {
        "month": f"{report.months[index]:%Y-%m}",
        **_month_figures(report.total[index]),
        "stores": {str(scope.store_key): _month_figures(rows[index]) for scope, rows in report.stores},
        "breakage": {
            "source": broken.source,
            "rate": f"{broken.breakage_rate:.6f}",
            "redemption_revenue": f"{broken.redemption_revenue:.2f}",
            "breakage_revenue": f"{broken.breakage_revenue:.2f}",
            "breakage_to_date": f"{broken.breakage_to_date:.2f}",
        },
    }


def month_figures(month: dt.date) -> dict:
    """A month's figures (figures_of), as MonthClose keeps them when the month closes (four queries)."""
    return figures_of(liability_report(start=month, months=1), 0)


def reproduction(closes: Sequence[MonthClose]) -> dict[int, list[str]]:
    """For each close still in force, where its month's figures today differ from those kept at its close ([]
    when they reproduce exactly). One report over the closed months: four queries however many."""
    closed = [close for close in closes if close.is_closed]
    if not closed:
        return {}
    first = min(close.month for close in closed)
    span = accounting.months_between(first, max(close.month for close in closed)) + 1
    report = liability_report(start=first, months=span)
    return {
        close.pk: [
            f"{path}: {was} at the close, {now} now"
            for path, was, now in _diff(
                _without_idle_stores(close.figures),
                _without_idle_stores(figures_of(report, accounting.months_between(first, close.month))),
            )
            if path != "month"
        ]
        for close in closed
    }


def _without_idle_stores(figures: dict) -> dict:
    """A month's figures without the stores whose roll-forward in it is all zeros. A report over several months
    lists every store with points in any of them, so a store that first earned after a month closed shows zeros
    in that month now, where the close (one month's report) had no line for it: the same books."""
    return {
        **figures,
        "stores": {key: store for key, store in figures.get("stores", {}).items() if not _all_zero(store)},
    }


def _all_zero(value) -> bool:
    if isinstance(value, dict):
        return all(_all_zero(item) for item in value.values())
    return Decimal(value) == 0


def _diff(was, now, path: str = "") -> Iterator[tuple[str, object, object]]:
    if isinstance(was, dict) and isinstance(now, dict):
        for key in sorted(set(was) | set(now)):
            yield from _diff(was.get(key), now.get(key), f"{path}.{key}" if path else key)
    elif was != now:
        yield path, was, now


def month_closes() -> list[MonthClose]:
    """Every close, latest month first, with who closed and reopened it (one query)."""
    return list(MonthClose.objects.select_related("closed_by", "reopened_by").order_by("-month", "-closed_at"))


# ---------------------------------------------------------------------------------------------------
# Ageing and the lapses ahead.


@dataclass(frozen=True)
class AgeBucket:
    label: str
    points: int
    money: Decimal


@dataclass(frozen=True)
class Ageing:
    as_of: dt.date
    buckets: list[AgeBucket]
    balance: int  # the sum of members' balances at the end of `as_of`
    value: Decimal  # what a point is worth then
    lapses: list[tuple[dt.date, int]]  # (month at whose start points lapse, points), from this month on
    customers: int
    expires: bool  # whether the program has ever had an expiry policy

    @property
    def balance_money(self) -> Decimal:
        return self.balance * self.value

    @property
    def lapses_in_money(self) -> list[tuple[dt.date, int, Decimal]]:
        return [(month, points, points * self.value) for month, points in self.lapses]

    @property
    def in_lots(self) -> int:
        return sum(bucket.points for bucket in self.buckets)

    @property
    def unallocated(self) -> int:
        """The balance that is in no lot: balances below zero, and lots already due that the daily expiry run
        has not expired yet (the walk counts them as gone at their due month)."""
        return self.balance - self.in_lots


def _customers_months(through: dt.date | None) -> Iterator[tuple[int, list[dict]]]:
    rows = CustomerMonthPoints.objects.order_by("customer_id", "month").values(*ROLLUP_FIELDS)
    if through is not None:
        rows = rows.filter(month__lte=through)
    for customer_id, months in groupby(rows.iterator(chunk_size=10_000), key=lambda row: row["customer_id"]):
        yield customer_id, list(months)


def ageing(*, as_of: dt.date, lapse_months: int = 12) -> Ageing:
    """Points outstanding at the end of month `as_of` by the month they were earned (AGE_BUCKETS), and what the
    expiry policy will lapse at the start of each of the next `lapse_months` months if nothing else happens.

    Lots are the expiry code's: a customer's points of one month, oldest spent first, each gone at the start of
    the month its policy makes it lapse (engine.lots_left); the lapses ahead are engine.lapses, from the current
    month on (lots already due and not yet expired by the daily run count in this month). Four queries.
    """
    timeline = ExpiryTimeline()
    this_month = current_month()
    horizon = add_months(this_month, lapse_months - 1)
    expired: dict[int, dict[dt.date, int]] = defaultdict(dict)
    if timeline.ever_expires:
        for customer_id, key in (
            PointsEntry.objects.filter(kind=PointsEntry.Kind.EXPIRY)
            .exclude(bonus_key="")
            .values_list("customer_id", "bonus_key")
        ):
            expired[customer_id][lot_of_key(key)] = 1
    buckets = [0] * len(accounting.AGE_BUCKETS)
    ahead: dict[dt.date, int] = defaultdict(int)
    balance = customers = 0
    columns = CustomerMonthPoints.POINT_COLUMNS
    through = None if timeline.ever_expires else as_of  # the lapses ahead need every month
    for customer_id, rows in _customers_months(through):
        held = [row for row in rows if row["month"] <= as_of]
        if held:
            customers += 1
            balance += sum(row[column] for row in held for column in columns)
            for lot, points in engine.lots_left(months_of_points(held), timeline.rule_of, until=as_of).items():
                buckets[accounting.age_bucket(lot, as_of)] += points
        if timeline.ever_expires:
            for lapse in engine.lapses(
                months_of_points(rows), timeline.rule_of, expired=expired.get(customer_id, {}), until=horizon
            ):
                ahead[max(lapse.due, this_month)] += lapse.points
    value = accounting.value_before(versions(), local_midnight(add_months(as_of, 1)))
    return Ageing(
        as_of=as_of,
        buckets=[
            AgeBucket(label, points, points * value)
            for (_low, _high, label), points in zip(accounting.AGE_BUCKETS, buckets, strict=True)
        ],
        balance=balance,
        value=value,
        lapses=[(month, ahead.get(month, 0)) for month in months_from(this_month, lapse_months)],
        customers=customers,
        expires=timeline.ever_expires,
    )
