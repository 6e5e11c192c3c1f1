"""Reads for the what-if simulator and the recalculation preview: replay a period's transactions under a
rule and compare with the points they actually earned. Nothing here writes.

The period is whole calendar months in the merchant's TIME_ZONE. What is compared is what the period's
transactions earned: earn entries of its purchases and reversal entries of its refunds (and adjustments
of earlier recalculations of those months). Stamp-card and bonus-action points are not replayed: they
depend on a customer's whole history, not on the period's transactions.

Speed (bench/simulate.py): a purchase's points depend only on its whole units (or exact amount, when
a minimum has cents) and on which promotions are in force for its local day and store. The engine
computes each such pair once. On PostgreSQL the database then joins the period's purchases to that
small table and sums them per customer and month in one pass, so Python sees one row per
customer-month; elsewhere (SQLite) the purchases are streamed with the local day decided in SQL and
summed in Python through the same memo. Both paths give the same numbers (a test checks). The
"actual" side is read from the monthly roll-up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, connections, transaction
from django.db.models import Count, F, IntegerField, Sum
from django.db.models.functions import Cast, Floor
from django.utils import timezone

from customers.models import Customer
from transactions.models import Store, Transaction

from . import engine
from .calendar import add_months
from .local_time import day_of, local_midnight, month_of
from .models import CustomerMonthPoints, PointsEntry, Program
from .selectors import point_value_at, rule_version_at

Key = tuple[int, dt.date]  # (customer_id, first day of the month)
CHUNK = 20_000
# Whole-unit keys tabled beyond the rule's last threshold or minimum, for the replay in SQL.
WHOLE_UNITS_TABLE = 2_000


def period_bounds(first_month: dt.date, months: int) -> tuple[dt.datetime, dt.datetime]:
    """The aware moments a period of whole local months starts and ends (exclusive)."""
    return local_midnight(first_month), local_midnight(add_months(first_month, months))


def reanchor_promotions(rule: engine.Rule, first_month: dt.date, months: int) -> engine.Rule:
    """The rule with its promotions moved onto a past period, to price a planned promotion against history:
    each keeps its kind, weekdays, stores and minimum amount, and its length in days, and is moved by whole
    weeks (so a "×2 Mondays" still falls on Mondays) to start at the first day of the period on the same
    weekday as its own first day; one as long as the period, or longer, covers all of it."""
    if not rule.promotions:
        return rule
    first = first_month
    last = add_months(first_month, months) - dt.timedelta(days=1)
    moved = []
    for promotion in rule.promotions:
        length = promotion.ends - promotion.starts
        if length >= last - first:
            starts, ends = first, last
        else:
            starts = first + dt.timedelta(days=(promotion.starts.weekday() - first.weekday()) % 7)
            ends = min(starts + length, last)
        moved.append(dataclasses.replace(promotion, starts=starts, ends=ends))
    return dataclasses.replace(rule, promotions=tuple(moved))


def default_period(today: dt.date | None = None) -> tuple[dt.date, int]:
    """The three full months before the current one (where last quarter's history is)."""
    today = today or timezone.localdate()
    return add_months(today.replace(day=1), -3), 3


class _Points:
    """The engine's points for a purchase, remembered per (amount key, promotions in force)."""

    def __init__(self, rule: engine.Rule, store_codes: dict[int, str]) -> None:
        self.rule = rule
        self.store_codes = store_codes
        self._contexts: dict[tuple[dt.date, int], tuple[int, ...]] = {}
        self._points: dict[tuple, int] = {}
        self._tables: dict[tuple[int, ...], dict] = {}

    def context(self, day: dt.date, store_id: int) -> tuple[int, ...]:
        key = (day, store_id)
        found = self._contexts.get(key)
        if found is None:
            found = self._contexts[key] = self.rule.promotions_in_force(day, self.store_codes.get(store_id))
        return found

    def table(self, day: dt.date, store_id: int) -> dict:
        """The points table shared by every (day, store) with the same promotions in force."""
        return self._tables.setdefault(self.context(day, store_id) if self.rule.promotions else (), {})

    def of(self, amount, day: dt.date, store_id: int) -> int:
        in_force = self.context(day, store_id) if self.rule.promotions else ()
        key = (amount, in_force)
        points = self._points.get(key)
        if points is None:
            points = self._points[key] = engine.earn(
                Decimal(amount), self.rule, on=day, store=self.store_codes.get(store_id)
            ).points
        return points


def replay(
    *, rule: engine.Rule, first_month: dt.date, months: int, in_sql: bool | None = None
) -> tuple[dict[Key, int], int]:
    """Points per (customer, month) that the period's purchases and refunds earn under `rule`, and how
    many transactions were replayed.

    A refund whose purchase is in the period reverses under `rule` (its purchase was replayed under it);
    a refund of a purchase from before the period reverses as it actually did, by its purchase's version.
    `in_sql` picks how purchases are summed (default: in SQL on PostgreSQL); both give the same numbers.
    """
    start, end = period_bounds(first_month, months)
    points = _Points(rule, dict(Store.objects.values_list("pk", "code")))
    # Whole units are all that earns, unless a minimum amount has cents: then the exact amount matters.
    amount = F("amount") if rule.has_fractional_minimums else Cast(Floor("amount"), IntegerField())
    # Served by txn_occurred_brin (occurred_at) on a large table.
    purchases = Transaction.objects.filter(
        kind=Transaction.Kind.PURCHASE, occurred_at__gte=start, occurred_at__lt=end
    ).order_by()
    if in_sql is None:
        in_sql = connection.vendor == "postgresql"
    totals: dict[Key, int] = defaultdict(int)
    if in_sql:
        count = _purchases_in_sql(purchases, amount, points, first_month, months, totals)
    else:
        count = _purchases_streamed(purchases, amount, points, totals)

    # Refunds of purchases in the period: replayed in order, each with what was refunded before it.
    refunds = (
        Transaction.objects.filter(
            kind=Transaction.Kind.REFUND,
            occurred_at__gte=start,
            occurred_at__lt=end,
            refund_of__occurred_at__gte=start,
        )
        .order_by("refund_of_id", "occurred_at", "id")
        .values_list(
            "customer_id",
            month_of("occurred_at"),
            "amount",
            "refund_of_id",
            "refund_of__amount",
            day_of("refund_of__occurred_at"),
            "refund_of__store_id",
        )
    )
    refunded: dict[int, Decimal] = defaultdict(Decimal)
    for customer_id, month, refund, purchase_id, purchase_amount, day, store_id in refunds.iterator(CHUNK):
        totals[customer_id, month] += engine.reversal(
            purchase_amount=purchase_amount,
            refunded_before=refunded[purchase_id],
            refund=refund,
            rule=rule,
            **({"on": day, "store": points.store_codes.get(store_id)} if rule.promotions else {}),
        )
        refunded[purchase_id] += refund
        count += 1
    # Refunds of purchases from before the period: as recorded.
    earlier = (
        PointsEntry.objects.filter(
            kind=PointsEntry.Kind.REVERSAL,
            effective_at__gte=start,
            effective_at__lt=end,
            transaction__refund_of__occurred_at__lt=start,
        )
        .order_by()
        .values_list("customer_id", month_of("effective_at"))
        .annotate(points=Sum("points"), refunds=Count("id"))
    )
    for customer_id, month, reversed_points, refund_count in earlier:
        totals[customer_id, month] += reversed_points
        count += refund_count
    return dict(totals), count


def _purchases_streamed(purchases, amount, points: _Points, totals: dict[Key, int]) -> int:
    """Stream the purchases (customer, local day, store, amount key) and add up their points in Python."""
    month_of_day: dict[dt.date, dt.date] = {}
    # (day, store) -> {amount key: points}; contexts with the same promotions in force share one table.
    tables: dict[tuple[dt.date, int], dict] = {}
    count = 0
    rows = purchases.values_list("customer_id", day_of("occurred_at"), "store_id", amount)
    for customer_id, day, store_id, key in rows.iterator(chunk_size=CHUNK):
        table = tables.get((day, store_id))
        if table is None:
            table = tables[day, store_id] = points.table(day, store_id)
            month_of_day[day] = day.replace(day=1)
        earned = table.get(key)
        if earned is None:
            earned = table[key] = points.of(key, day, store_id)
        totals[customer_id, month_of_day[day]] += earned
        count += 1
    return count


def _purchases_in_sql(
    purchases, amount, points: _Points, first_month: dt.date, months: int, totals: dict[Key, int]
) -> int:
    """PostgreSQL: compute the points of each (promotions in force, amount key) pair in Python with the
    engine, hand the database that small table, and let it join and sum the million purchases per
    customer and month in one pass. Python then sees one row per customer and month, not per purchase.

    1. the amount keys: whole units from 0 to past the rule's last threshold (the rare larger purchases
       are fetched apart), or, when a minimum has cents, the distinct exact amounts of the period;
    2. every (local day, store) of the period is mapped to its class of promotions in force;
    3. points per (class, key) by the engine;
    4. one grouped query joins the purchases to both tables (unnest of arrays) and sums.
    """
    rows = purchases.annotate(
        local_day=day_of("occurred_at"), local_month=month_of("occurred_at"), amount_key=amount
    ).values("customer_id", "local_day", "local_month", "store_id", "amount_key")
    inner, params = rows.query.sql_with_params()
    # The database the queryset reads from: the read replica inside a view marked for it (ops.replica).
    alias = purchases.db
    database = connections[alias]
    rule = points.rule
    if rule.has_fractional_minimums:
        # Exact amounts: only the ones that occur (one scan, a few thousand values).
        with database.cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT amount_key FROM ({inner}) AS p", params)  # noqa: S608
            keys = [key for (key,) in cursor.fetchall()]
        bound = None
        if not keys:
            return 0
    else:
        # Whole units: every key up to well past the rule's last threshold and minimum covers nearly all
        # purchases without a scan to find them; the few larger ones are fetched apart below.
        bound = WHOLE_UNITS_TABLE + max(
            [0, *(band.threshold for band in rule.bands), math.ceil(rule.minimum_purchase)]
            + [math.ceil(p.minimum_amount) for p in rule.promotions]
        )
        keys = list(range(bound + 1))
    classes: dict[tuple[int, ...], int] = {}
    days, stores, day_classes = [], [], []
    day = first_month
    last = add_months(first_month, months)
    while day < last:
        for store_id in points.store_codes:
            in_force = points.context(day, store_id) if points.rule.promotions else ()
            days.append(day)
            stores.append(store_id)
            day_classes.append(classes.setdefault(in_force, len(classes)))
        day += dt.timedelta(days=1)
    table_classes, table_keys, table_points = [], [], []
    representative = {cls: (days[i], stores[i]) for i, cls in reversed(list(enumerate(day_classes)))}
    for cls, (on, store_id) in representative.items():
        for key in keys:
            table_classes.append(cls)
            table_keys.append(key)
            table_points.append(points.of(key, on, store_id))
    key_type = "numeric" if bound is None else "bigint"
    # Only the ORM's own SQL and a fixed type name are interpolated; every value is a parameter.
    if points.rule.promotions:
        context_join = """
        JOIN unnest(%s::date[], %s::bigint[], %s::int[]) AS ctx(day, store_id, cls)
          ON ctx.day = p.local_day AND ctx.store_id = p.store_id"""
        context_params = [days, stores, day_classes]
        class_of = "ctx.cls"
    else:  # one class: no need to look the day and store up
        context_join, context_params, class_of = "", [], "0"
    sql = f"""
        SELECT p.customer_id, p.local_month::date, COALESCE(SUM(pts.points), 0)::bigint, COUNT(*),
               COUNT(*) FILTER (WHERE pts.points IS NULL)
        FROM ({inner}) AS p {context_join}
        LEFT JOIN unnest(%s::int[], %s::{key_type}[], %s::bigint[]) AS pts(cls, amount_key, points)
          ON pts.cls = {class_of} AND pts.amount_key = p.amount_key
        GROUP BY p.customer_id, p.local_month
    """  # noqa: S608
    count = missing = 0
    with transaction.atomic(using=alias), database.cursor() as cursor:
        # The planner cannot see inside unnest(): left alone it sorts a million rows on disk for merge
        # joins and sorts them again to group. Two small hash tables and a hash aggregate of the
        # customer-months (some 150,000 for a million purchases) are what this needs.
        cursor.execute("SET LOCAL enable_mergejoin = off; SET LOCAL enable_sort = off; SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, [*params, *context_params, table_classes, table_keys, table_points])
        for customer_id, month, earned, purchases_counted, not_in_table in cursor.fetchall():
            totals[customer_id, month] += earned
            count += purchases_counted
            missing += not_in_table
    if missing:
        # Purchases beyond the table (whole units above `bound`): few, each through the memo.
        with database.cursor() as cursor:
            cursor.execute(
                f"SELECT customer_id, local_day, local_month::date, store_id, amount_key FROM ({inner}) AS p "  # noqa: S608
                "WHERE p.amount_key > %s",
                [*params, bound],
            )
            for customer_id, day, month, store_id, key in cursor.fetchall():
                totals[customer_id, month] += points.of(key, day, store_id)
    return count


def plain_rows(queryset) -> list[tuple]:
    """A values_list() queryset's rows as the database driver returns them. On PostgreSQL that skips
    Django's per-row converters (psycopg already returns ints and dates), which on the 150,000 roll-up
    rows of a busy quarter cost more than the query; elsewhere (SQLite dates are text) they are needed."""
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def recorded(*, first_month: dt.date, months: int) -> dict[Key, int]:
    """Points per (customer, month) the period's transactions actually earned: earned plus reversed from
    the monthly roll-up, plus the adjustments of recalculations of those months."""
    start, end = period_bounds(first_month, months)
    last = add_months(first_month, months)
    actual: dict[Key, int] = defaultdict(int)
    # Served by cmp_month_customer_idx.
    rollup = (
        CustomerMonthPoints.objects.filter(month__gte=first_month, month__lt=last)
        .exclude(**dict.fromkeys(CustomerMonthPoints.EARNED, 0))
        .values_list("customer_id", "month", CustomerMonthPoints.sum_of(CustomerMonthPoints.EARNED))
    )
    for customer_id, month, points in plain_rows(rollup):
        actual[customer_id, month] += points
    adjustments = (
        PointsEntry.objects.filter(
            kind=PointsEntry.Kind.ADJUSTMENT,
            recalculation__isnull=False,
            effective_at__gte=start,
            effective_at__lt=end,
        )
        .order_by()
        .values_list("customer_id", month_of("effective_at"))
        .annotate(points=Sum("points"))
    )
    for customer_id, month, points in adjustments:
        actual[customer_id, month] += points
    return dict(actual)


@dataclass(slots=True)
class ComparedRow:
    customer_id: int
    month: dt.date
    actual: int
    draft: int
    point_value: Decimal
    member_number: str = ""
    name: str = ""

    @property
    def difference(self) -> int:
        return self.draft - self.actual

    @property
    def money(self) -> Decimal:
        return money(self.difference, self.point_value)


@dataclass
class Comparison:
    first_month: dt.date
    months: int
    point_value: Decimal
    # (customer, month) -> (actual, draft) for every customer-month with points on either side. Rows are
    # only made for what a page shows: a million-purchase period has some 150,000 customer-months.
    figures: dict[Key, tuple[int, int]]
    transactions: int
    actual: int = 0
    draft: int = 0
    by_month: list[dict] = field(default_factory=list)

    @property
    def difference(self) -> int:
        return self.draft - self.actual

    @property
    def money(self) -> Decimal:
        return money(self.difference, self.point_value)

    @property
    def row_count(self) -> int:
        return len(self.figures)

    def _row(self, key: Key, figures: tuple[int, int]) -> ComparedRow:
        return ComparedRow(key[0], key[1], figures[0], figures[1], self.point_value)

    @property
    def rows(self) -> list[ComparedRow]:
        """Every row, by customer then month."""
        return [self._row(key, self.figures[key]) for key in sorted(self.figures)]

    def changed(self) -> list[ComparedRow]:
        """The rows with a difference, by customer then month."""
        return [
            self._row(key, self.figures[key])
            for key in sorted(self.figures)
            if self.figures[key][0] != self.figures[key][1]
        ]

    @property
    def changed_count(self) -> int:
        return sum(1 for actual, draft in self.figures.values() if actual != draft)

    def largest(self, limit: int = 200, *, changed_only: bool = False) -> list[ComparedRow]:
        """The rows with the largest differences (then by customer), named: one query for the names.
        `changed_only` leaves out the rows without a difference."""
        items = self.figures.items()
        if changed_only:
            items = [(key, figures) for key, figures in items if figures[0] != figures[1]]
        chosen = heapq.nsmallest(limit, items, key=lambda item: (-abs(item[1][1] - item[1][0]), item[0]))
        return name_rows([self._row(key, figures) for key, figures in chosen])


def money(points: int, point_value: Decimal) -> Decimal:
    """What points are worth: rounded half up to the cent, for display only."""
    return (Decimal(points) * point_value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def name_rows(rows: list[ComparedRow]) -> list[ComparedRow]:
    customers = Customer.objects.filter(pk__in={row.customer_id for row in rows})
    names = {pk: (number, name) for pk, number, name in customers.values_list("pk", "member_number", "name")}
    for row in rows:
        row.member_number, row.name = names.get(row.customer_id, ("", ""))
    return rows


def compare(
    *,
    rule: engine.Rule,
    first_month: dt.date,
    months: int = 3,
    point_value: Decimal | None = None,
    program: Program | None = None,
) -> Comparison:
    """Replay the period under `rule` and compare, per customer and month, with what was actually earned.
    Totals and per-month totals come from the same figures. Nothing is written."""
    if months < 1:
        raise ValueError("a period is at least one month")
    if point_value is None:
        point_value = point_value_at(program=program)  # what a point is worth now
    draft, count = replay(rule=rule, first_month=first_month, months=months)
    actual = recorded(first_month=first_month, months=months)
    figures = {key: (actual.get(key, 0), points) for key, points in draft.items()}
    for key, points in actual.items():
        if key not in draft:
            figures[key] = (points, 0)
    by_month = {month: [0, 0] for month in [add_months(first_month, offset) for offset in range(months)]}
    for (_customer_id, month), (row_actual, row_draft) in figures.items():
        sums = by_month[month]
        sums[0] += row_actual
        sums[1] += row_draft
    return Comparison(
        first_month=first_month,
        months=months,
        point_value=point_value,
        figures=figures,
        transactions=count,
        actual=sum(a for a, _d in by_month.values()),
        draft=sum(d for _a, d in by_month.values()),
        by_month=[
            {"month": month, "actual": a, "draft": d, "difference": d - a, "money": money(d - a, point_value)}
            for month, (a, d) in by_month.items()
        ],
    )


def current_rule(program: Program | None = None) -> engine.Rule:
    return rule_version_at(timezone.now(), program).engine_rule()
