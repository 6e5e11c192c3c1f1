"""Reads of the program and the ledger that pages, commands and reports need. Aggregated in SQL."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import Count, DateField, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import Customer
from loyalty_site.formatting import points as points_text
from transactions.models import Store, Transaction

from . import engine
from .calendar import add_months, month_name, month_start, months_from
from .local_time import local_midnight, month_of
from .models import (
    CarriedPoints,
    CustomerMonthPoints,
    CustomerTier,
    CustomerWindowCount,
    CustomerWindowPoints,
    ExpiryPolicy,
    PointsEntry,
    PointValue,
    Program,
    Redemption,
    Reward,
    RuleVersion,
    StoreMonthPoints,
    Tier,
)


def default_program() -> Program:
    return Program.objects.get(is_default=True)


def rule_version_at(moment: dt.datetime, program: Program | None = None) -> RuleVersion:
    """The rule version in force at `moment`: the latest that started at or before it."""
    program = program or default_program()
    version = (
        RuleVersion.objects.filter(program=program, effective_from__lte=moment).order_by("-effective_from").first()
    )
    if version is None:
        raise LookupError(f"no rule version of {program} is in force at {moment.isoformat()}")
    return version


def point_value_versions(program: Program | None = None) -> list[PointValue]:
    """The history of what a point is worth, oldest first (one query; the default program's unless told)."""
    of_program = {"program": program} if program is not None else {"program__is_default": True}
    return list(PointValue.objects.filter(**of_program).order_by("effective_from"))


def value_in(versions: Sequence[PointValue], moment: dt.datetime, *, before: bool = False) -> PointValue:
    """The version in force at `moment` (the latest that started at or before it; with `before`, strictly
    before it: the value a month's balance closes at is the one in force just before the next month begins).
    The first version also values anything earlier than it."""
    starts = [version.effective_from for version in versions]
    index = (bisect.bisect_left if before else bisect.bisect_right)(starts, moment) - 1
    if not versions:
        raise LookupError("the program has no point value")
    return versions[max(index, 0)]


def point_value_at(moment: dt.datetime | None = None, program: Program | None = None) -> Decimal:
    """What one point is worth at `moment` (now by default): the value every reader uses."""
    return value_in(point_value_versions(program), moment or timezone.now()).value


class RuleTimeline:
    """All versions of a program, loaded once, for recording many transactions in bulk (imports)."""

    def __init__(self, program: Program | None = None) -> None:
        program = program or default_program()
        self.versions = list(RuleVersion.objects.filter(program=program).order_by("effective_from"))
        self._starts = [version.effective_from for version in self.versions]
        self._rules = {version.pk: version.engine_rule() for version in self.versions}

    def at(self, moment: dt.datetime) -> RuleVersion:
        index = bisect.bisect_right(self._starts, moment) - 1
        if index < 0:
            raise LookupError(f"no rule version is in force at {moment.isoformat()}")
        return self.versions[index]

    def rule_of(self, version: RuleVersion):
        return self._rules[version.pk]


def carried(customer_id: int, column: str = "points") -> Coalesce:
    """What the customer's entries of detached months add to a whole-history figure of their ledger (CarriedPoints:
    `points` for the balance, `stamps` for the stamp card), as an expression to add to that figure's aggregate:
    a subquery on carriedpoints_unique in the same query, not a query more."""
    total = (
        CarriedPoints.objects.filter(customer_id=customer_id)
        .order_by()
        .values("customer_id")
        .annotate(total=Sum(column))
        .values("total")
    )
    return Coalesce(Subquery(total), 0)


def balance_of(customer_id: int) -> Coalesce:
    """The customer's points balance as an aggregate over their ledger entries: their sum, and what their
    entries of detached months carry."""
    return Coalesce(Sum("points"), 0) + carried(customer_id)


def customer_balance(customer_id: int) -> int:
    """The customer's points balance: the sum of their ledger (with what detached months carry)."""
    return PointsEntry.objects.filter(customer_id=customer_id).aggregate(total=balance_of(customer_id))["total"]


@dataclass(frozen=True)
class CarriedLine:
    """A line for a detached month on a list of a member's ledger lines: what its entries that left the ledger
    carry into the balance (CarriedPoints). Dated at the month's first moment in the merchant's time zone."""

    month: dt.date
    points: int

    @property
    def when(self) -> dt.datetime:
        return local_midnight(self.month)

    @property
    def title(self) -> str:
        return f"{month_name(self.month)} — archived: {points_text(self.points)} points carried"


@dataclass(frozen=True)
class LedgerBalance:
    """A member's balance with its two parts: the sum of the entries in the ledger, and one line per detached
    month (oldest first) whose entries left it. `ledger + sum(carried) == balance`, as customer_balance."""

    ledger: int
    carried: list[CarriedLine]

    @property
    def balance(self) -> int:
        return self.ledger + sum(line.points for line in self.carried)


def ledger_balance(customer_id: int) -> LedgerBalance:
    """The customer's balance and the carried lines of their detached months, in one query (a UNION ALL of
    their CarriedPoints rows, carriedpoints_unique, and the sum of their ledger, pointsentry_customer_idx), so
    that a page listing their ledger lines shows the lines that add up to the balance at the cost of the
    balance's query alone."""
    carried = CarriedPoints.objects.filter(customer_id=customer_id).order_by().values_list("month", "points")
    ledger = (
        PointsEntry.objects.filter(customer_id=customer_id)
        .order_by()
        .values("customer_id")
        .annotate(month=Value(None, output_field=DateField()), total=Sum("points"))
        .values_list("month", "total")
    )
    # PostgreSQL sums bigints as numeric: the union's column comes back as Decimal there; points are integers.
    rows = [(month, int(total)) for month, total in carried.union(ledger, all=True)]
    return LedgerBalance(
        ledger=sum(total for month, total in rows if month is None),
        carried=sorted(
            (CarriedLine(month=month, points=total) for month, total in rows if month is not None),
            key=lambda line: line.month,
        ),
    )


def carried_lines(customer_id: int) -> list[CarriedLine]:
    """The carried lines of the customer's detached months, newest first, without their balance: for a list of
    their ledger entries that has no balance to show beside it (the API's ledger), one query on
    carriedpoints_unique rather than ledger_balance's sum of their whole ledger."""
    rows = CarriedPoints.objects.filter(customer_id=customer_id).order_by("-month").values_list("month", "points")
    return [CarriedLine(month=month, points=points) for month, points in rows]


# ---------------------------------------------------------------------------------------------------
# The monthly points report: one selector for the command line and the managers' page.


# Beside what was earned, the monthly report gives per customer the period's redeemed, expired and adjusted
# points (signed as in the ledger: redemptions and expiries are negative).
SPENT_KEYS = CustomerMonthPoints.SPENT
SPENT_KINDS = CustomerMonthPoints.kinds_of(SPENT_KEYS)
# The ledger kinds of what purchases earned (earn entries and the reversals of their refunds).
EARNED_KINDS = CustomerMonthPoints.kinds_of(CustomerMonthPoints.EARNED)


@dataclass(frozen=True)
class MonthColumn:
    key: str  # the annotation name: m_2025_01
    label: str  # the column heading: 2025-01
    month: dt.date


@dataclass(frozen=True)
class MonthlyPointsReport:
    months: Sequence[MonthColumn]
    rows: QuerySet  # dicts: customer_id, member_number, name, one key per month, total
    # What the rows group, with the sums of their columns, when no filter applies to a row's total:
    # then the count and the footer need no grouping per customer (see count_and_totals).
    ungrouped: QuerySet | None = field(default=None, repr=False, compare=False)
    sums: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    # Rows read from the precomputed windows (CustomerWindowPoints): then, unless a search or a minimum total
    # leaves some of them out (`filtered`), the count and the footer are read from the windows' counts and the
    # liability roll-up, whatever the number of customers.
    windowed: bool = False
    filtered: bool = False

    def totals(self) -> dict[str, int]:
        """Column totals of the whole (filtered) result, computed in the database."""
        keys = [column.key for column in self.months] + ["total", *SPENT_KEYS]
        # Aggregating over the grouped rows wraps them in a subquery; the sums need names of their own.
        sums = self.rows.order_by().aggregate(**{f"sum_{key}": Coalesce(Sum(key), 0) for key in keys})
        return {key: sums[f"sum_{key}"] for key in keys}

    def count_and_totals(self) -> tuple[int, dict[str, int]]:
        """The number of rows and the column totals of the whole (filtered) result, in one query.

        A page needs both (the paginator's count, the footer). Unless a minimum total filters the rows,
        they are one per distinct customer of the source and the footer is the source's sums, so one
        pass over the period's roll-up rows gives both, without grouping per customer or joining
        customers (on 50,000 customers, about a quarter of the time of aggregating the grouped rows).
        """
        keys = [column.key for column in self.months] + ["total", *SPENT_KEYS]
        if self.windowed and not self.filtered:
            return _window_count_and_totals(self.months)
        if self.ungrouped is not None and self.sums is not None:
            sums = self.ungrouped.order_by().aggregate(
                row_count=Count("customer_id", distinct=True), **{f"sum_{key}": self.sums[key] for key in keys}
            )
        else:
            sums = self.rows.order_by().aggregate(
                row_count=Count("*"), **{f"sum_{key}": Coalesce(Sum(key), 0) for key in keys}
            )
        return sums["row_count"], {key: sums[f"sum_{key}"] for key in keys}


def month_columns(start: dt.date, months: int) -> list[MonthColumn]:
    return [
        MonthColumn(key=f"m_{month:%Y_%m}", label=f"{month:%Y-%m}", month=month) for month in months_from(start, months)
    ]


def monthly_points(
    *,
    start: dt.date,
    months: int = 3,
    store_id: int | None = None,
    search: str | None = None,
    min_total: int | None = None,
) -> MonthlyPointsReport:
    """Points earned per customer in each calendar month of a period and in total.

    "Earned" is what purchases earned in the month less what refunds recorded in that month took back
    (ledger kinds earn and reversal). One row per customer with any ledger entry in the period, so a
    customer who bought but earned nothing shows zeros. Sorted by member number unless re-ordered.

    Without a store, it reads the monthly roll-up (a few rows per customer, indexed by month); with a
    store, it groups the ledger entries of that store's transactions. Both decide months in SQL.
    A period of CustomerWindowPoints.MONTHS months without a store reads the customers' precomputed rows for
    it instead (see windowed_points), searched and limited by total as the grouped rows are: the same rows.
    """
    columns = month_columns(start, months)
    if store_id is None and months == CustomerWindowPoints.MONTHS:
        return windowed_points(columns, search=search, min_total=min_total)
    return grouped_points(columns, store_id=store_id, search=search, min_total=min_total)


def customer_matches(search: str) -> Q:
    """The report's search, on the rows' customer: a part of the member number or of the name, any case."""
    text = search.strip()
    return Q(customer__member_number__icontains=text) | Q(customer__name__icontains=text)


def grouped_points(
    columns: Sequence[MonthColumn],
    *,
    store_id: int | None = None,
    search: str | None = None,
    min_total: int | None = None,
) -> MonthlyPointsReport:
    """The monthly report grouped per customer from the roll-up (or, for a store, the ledger): any period and
    filter (see monthly_points)."""
    first, end = columns[0].month, add_months(columns[-1].month, 1)
    if store_id is None:
        source = CustomerMonthPoints.objects.filter(month__gte=first, month__lt=end)
        earned = CustomerMonthPoints.sum_of(CustomerMonthPoints.EARNED)
        month_field = "month"
    else:
        source = PointsEntry.objects.filter(
            effective_at__gte=local_midnight(first),
            effective_at__lt=local_midnight(end),
            transaction__store_id=store_id,
        ).annotate(entry_month=month_of("effective_at"))
        earned = F("points")
        month_field = "entry_month"
    if search:
        source = source.filter(customer_matches(search))
    per_month = {
        column.key: Coalesce(
            Sum(
                earned,
                filter=Q(**{month_field: column.month}) & (Q() if store_id is None else Q(kind__in=EARNED_KINDS)),
            ),
            0,
        )
        for column in columns
    }
    total_filter = Q() if store_id is None else Q(kind__in=EARNED_KINDS)
    total = Coalesce(Sum(earned, filter=total_filter), 0)
    if store_id is None:
        spent = {key: Coalesce(Sum(key), 0) for key in SPENT_KEYS}
    else:
        # By store: the entries of that store's transactions, which are purchases and refunds only.
        spent = {
            CustomerMonthPoints.COLUMNS[kind]: Coalesce(Sum("points", filter=Q(kind=kind)), 0) for kind in SPENT_KINDS
        }
    rows = (
        source.values("customer_id")
        .annotate(
            member_number=F("customer__member_number"),
            name=F("customer__name"),
            **per_month,
            total=total,
            **spent,
        )
        .order_by("member_number")
    )
    if min_total is not None:
        return MonthlyPointsReport(months=columns, rows=rows.filter(total__gte=min_total))
    return MonthlyPointsReport(months=columns, rows=rows, ungrouped=source, sums={**per_month, "total": total, **spent})


def windowed_points(
    columns: Sequence[MonthColumn], *, search: str | None = None, min_total: int | None = None
) -> MonthlyPointsReport:
    """The monthly report of a whole period of CustomerWindowPoints.MONTHS months, read from the customers'
    rows for it: a page sorted by total is a range of cwp_start_earned_idx (ties broken by member number in
    an incremental sort), joined to its 25 customers, instead of grouping every customer's months of the
    period. The same rows, keys and order as monthly_points' grouped roll-up (tests compare them). A minimum
    total is a bound of that range; a search joins the customers (one row each, rather than a row per
    customer per month to group); with either, the count and footer add up the rows that are left."""
    windows = CustomerWindowPoints.objects.filter(start_month=columns[0].month)
    if search:
        windows = windows.filter(customer_matches(search))
    if min_total is not None:
        windows = windows.filter(earned__gte=min_total)
    rows = (
        windows.annotate(
            member_number=F("customer__member_number"),
            name=F("customer__name"),
            **{
                column.key: F(window_column)
                for column, window_column in zip(columns, CustomerWindowPoints.MONTH_COLUMNS, strict=True)
            },
            total=F("earned"),
        )
        .values("customer_id", "member_number", "name", *[column.key for column in columns], "total", *SPENT_KEYS)
        .order_by("member_number")
    )
    return MonthlyPointsReport(months=columns, rows=rows, windowed=True, filtered=bool(search) or min_total is not None)


def _window_count_and_totals(columns: Sequence[MonthColumn]) -> tuple[int, dict[str, int]]:
    """The number of customers of a period's windows (their SHARDS counts added up) and the report's footer,
    in one query whatever the number of customers: the footer from the liability roll-up (StoreMonthPoints,
    every ledger entry summed by month and kind, a few thousand rows a period), which equals the roll-up's
    sums (both are proved equal to the ledger by check_points_rollup and check_liability)."""
    first, end = columns[0].month, add_months(columns[-1].month, 1)
    customers = (
        CustomerWindowCount.objects.filter(start_month=first)
        .values("start_month")
        .annotate(customers=Sum("customers"))
        .values("customers")
    )
    earned = Q(kind__in=EARNED_KINDS)
    sums = StoreMonthPoints.objects.filter(month__gte=first, month__lt=end).aggregate(
        # The count rides along in the same query: a constant subquery, evaluated once.
        row_count=Coalesce(Max(Subquery(customers)), 0),
        **{column.key: Coalesce(Sum("points", filter=earned & Q(month=column.month)), 0) for column in columns},
        total=Coalesce(Sum("points", filter=earned), 0),
        **{CustomerMonthPoints.COLUMNS[kind]: Coalesce(Sum("points", filter=Q(kind=kind)), 0) for kind in SPENT_KINDS},
    )
    row_count = sums.pop("row_count")
    return row_count, sums


# ---------------------------------------------------------------------------------------------------
# How a transaction's points were made: the till's confirmation, the transaction's page.


@dataclass(frozen=True)
class Account:
    """How a transaction's points were made for its customer, as lines that sum to `points`: each band that
    counted, each promotion step, the tier multiplier, the stamp card's bonus (a refund: its reversal).
    `explanation` and `parts` are the earn (or reversal) entry's own line and the bands that counted."""

    points: int
    lines: tuple[engine.Line, ...]
    explanation: str
    parts: list[engine.BandPart]
    rule_version: RuleVersion | None


def transaction_account(transaction_id: int) -> Account | None:
    """The account of a purchase or refund, in one query: its entries for its own customer, with the rule
    version and the transaction an earn entry's account is rendered from."""
    entries = list(
        PointsEntry.objects.filter(transaction_id=transaction_id, kind__in=[*EARNED_KINDS, PointsEntry.Kind.BONUS])
        .select_related("transaction", "rule_version__program")
        .order_by("id")
    )
    main = next((entry for entry in entries if entry.kind in EARNED_KINDS), None)
    if main is None:
        return None
    parts: list[engine.BandPart] = []
    if main.kind == PointsEntry.Kind.EARN:
        earning = main.earning()
        lines = earning.lines()
        parts = [part for part in earning.parts if part.units > 0]
    else:
        lines = (engine.Line(main.note, main.points),)
    # The bonuses this transaction gave its own customer (a referral bonus is the referrer's).
    bonuses = [e for e in entries if e.kind == PointsEntry.Kind.BONUS and e.customer_id == main.customer_id]
    lines += tuple(engine.Line(entry.reason, entry.points) for entry in bonuses)
    return Account(
        points=main.points + sum(entry.points for entry in bonuses),
        lines=lines,
        explanation=main.explanation,
        parts=parts,
        rule_version=main.rule_version,
    )


# ---------------------------------------------------------------------------------------------------
# The customer statement and the program at a glance (managers' pages).


@dataclass(frozen=True)
class MonthPoints:
    month: dt.date
    earned: int
    reversed: int
    redeemed: int = 0
    expired: int = 0
    adjusted: int = 0
    active_customers: int = 0
    new_customers: int = 0


# The roll-up columns the glance page sums per month: those MonthPoints holds.
GLANCE_COLUMNS = tuple(f.name for f in fields(MonthPoints) if f.name in CustomerMonthPoints.POINT_COLUMNS)


def customer_points_by_month(customer_id: int, *, start: dt.date, months: int) -> list[MonthPoints]:
    """Points a customer earned and had reversed in each month of a period, zeros included (one query).

    Read from the roll-up: at most one row per month, through its unique (customer, month) index.
    """
    wanted = months_from(start, months)
    found = {
        row["month"]: row
        for row in CustomerMonthPoints.objects.filter(
            customer_id=customer_id, month__gte=wanted[0], month__lte=wanted[-1]
        ).values("month", *CustomerMonthPoints.EARNED)
    }
    empty = dict.fromkeys(CustomerMonthPoints.EARNED, 0)
    return [
        MonthPoints(month=month, **{column: found.get(month, empty)[column] for column in CustomerMonthPoints.EARNED})
        for month in wanted
    ]


def customer_ledger(customer_id: int) -> QuerySet[PointsEntry]:
    """A customer's ledger, newest first, with what each line shows (pointsentry_customer_idx serves it)."""
    return (
        PointsEntry.objects.filter(customer_id=customer_id)
        .select_related("transaction__store", "rule_version", "created_by")
        .order_by("-effective_at", "-id")
    )


def program_by_month(*, start: dt.date, months: int) -> list[MonthPoints]:
    """Per month of a period: points earned, reversed, redeemed and expired; active customers; new enrolments.

    Two queries: the roll-up summed by month (cmp_month_customer_idx), and customers counted by the
    month they joined in the merchant's time zone (customer_joined_idx). "Active" means at least one
    ledger entry in the month (roll-up `entries` > 0); today every entry comes from a purchase or a refund.
    """
    wanted = months_from(start, months)
    first, end = wanted[0], add_months(wanted[-1], 1)
    points = {
        row["month"]: row
        for row in CustomerMonthPoints.objects.filter(month__gte=first, month__lt=end)
        .values("month")
        .annotate(
            **{f"sum_{column}": Sum(column) for column in GLANCE_COLUMNS},
            active=Count("customer_id", filter=Q(entries__gt=0)),
        )
        .order_by()
    }
    joined = {
        row["joined_month"]: row["joined"]
        for row in Customer.objects.filter(date_joined__gte=local_midnight(first), date_joined__lt=local_midnight(end))
        .annotate(joined_month=month_of("date_joined"))
        .values("joined_month")
        .annotate(joined=Count("id"))
        .order_by()
    }
    result = []
    for month in wanted:
        row = points.get(month, {})
        result.append(
            MonthPoints(
                month=month,
                **{column: row.get(f"sum_{column}") or 0 for column in GLANCE_COLUMNS},
                active_customers=row.get("active") or 0,
                new_customers=joined.get(month, 0),
            )
        )
    return result


def points_outstanding() -> int:
    """The sum of every customer's balance: what the program owes (one query over the roll-up).

    The roll-up holds every ledger entry by kind, so its sum equals the ledger's (check_points_rollup
    proves it) while reading a few rows per customer instead of every entry.
    """
    return CustomerMonthPoints.objects.aggregate(
        outstanding=Coalesce(Sum(CustomerMonthPoints.sum_of(CustomerMonthPoints.POINT_COLUMNS)), 0)
    )["outstanding"]


# ---------------------------------------------------------------------------------------------------
# Rewards at the till.


def _rewards_for(customer_id: int, *, day: dt.date | None = None, tier_rank: int | None = None) -> QuerySet:
    """The rewards a customer may have, balance aside: active on `day` (local, today by default), in stock,
    under the per-customer limit (redemptions that were undone do not count), and unlocked by the customer's
    tier (`tier_rank`; None without a tier). Cheapest first."""
    day = day or timezone.localdate()
    taken = (
        Redemption.objects.filter(customer_id=customer_id, reward=OuterRef("pk"), undone_at__isnull=True)
        .order_by()
        .values("reward")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Reward.objects.filter(program__is_default=True)
        .filter(Q(active_from__isnull=True) | Q(active_from__lte=day))
        .filter(Q(active_until__isnull=True) | Q(active_until__gte=day))
        .filter(Q(stock__isnull=True) | Q(stock__gt=0))
        .annotate(taken=Coalesce(Subquery(taken), 0))
        .filter(Q(per_customer_limit__isnull=True) | Q(taken__lt=F("per_customer_limit")))
        # Rewards a tier unlocks: only for customers of that tier or higher.
        .filter(Q(min_tier__isnull=True) | Q(min_tier__rank__lte=-1 if tier_rank is None else tier_rank))
        .order_by("points_cost", "name")
    )


def affordable_rewards(
    customer_id: int, *, balance: int, day: dt.date | None = None, tier_rank: int | None = None
) -> QuerySet:
    """The rewards a customer can redeem now, cheapest first (one query): those they may have (see
    `_rewards_for`) costing no more than `balance`."""
    return _rewards_for(customer_id, day=day, tier_rank=tier_rank).filter(points_cost__lte=balance)


@dataclass(frozen=True)
class NextReward:
    reward: Reward
    points_to_go: int  # points still to earn before it can be redeemed


def next_reward(
    customer_id: int, *, balance: int, day: dt.date | None = None, tier_rank: int | None = None
) -> NextReward | None:
    """What the customer is saving towards: the cheapest reward they may have but cannot yet afford, and
    how many points they still need (one query). None when there is none."""
    reward = _rewards_for(customer_id, day=day, tier_rank=tier_rank).filter(points_cost__gt=balance).first()
    return NextReward(reward=reward, points_to_go=reward.points_cost - max(balance, 0)) if reward else None


def recent_redemptions(customer_id: int, *, limit: int = 5) -> list:
    """A customer's latest redemptions with their reward and who made and undid them (one query,
    redemption_customer_reward_idx)."""
    return list(
        Redemption.objects.filter(customer_id=customer_id)
        .select_related("reward", "redeemed_by", "undone_by", "store")
        .order_by("-redeemed_at", "-id")[:limit]
    )


# ---------------------------------------------------------------------------------------------------
# Expiry: which lots lapse, by the rule in force in the month each was earned.


class ExpiryTimeline:
    """The program's expiry rules by month, loaded once (one query)."""

    def __init__(self, program: Program | None = None) -> None:
        of_program = {"program": program} if program is not None else {"program__is_default": True}
        self.policies = list(ExpiryPolicy.objects.filter(**of_program).order_by("effective_month"))
        self._starts = [policy.effective_month for policy in self.policies]

    def rule_of(self, month: dt.date) -> engine.ExpiryRule:
        index = bisect.bisect_right(self._starts, month) - 1
        return self.policies[index].engine_rule() if index >= 0 else engine.ExpiryRule()

    @property
    def ever_expires(self) -> bool:
        return any(policy.kind != ExpiryPolicy.Kind.NEVER for policy in self.policies)


def expiry_key(lot: dt.date) -> str:
    return f"expiry:{lot:%Y-%m}"


def lot_of_key(key: str) -> dt.date:
    return dt.date.fromisoformat(key.removeprefix("expiry:") + "-01")


def months_of_points(rows) -> list[engine.MonthOfPoints]:
    """Roll-up rows (dicts of ROLLUP_FIELDS) as the engine's MonthOfPoints. A month is active when it has an
    entry other than an expiry."""
    expired = CustomerMonthPoints.COLUMNS[PointsEntry.Kind.EXPIRY]
    others = [column for column in CustomerMonthPoints.POINT_COLUMNS if column != expired]
    return [
        engine.MonthOfPoints(
            month=row["month"],
            **{column: row[column] for column in others},
            active=row["entries"] > 0 and (row[expired] == 0 or any(row[column] for column in others)),
        )
        for row in rows
    ]


ROLLUP_FIELDS = ["customer_id", "month", *CustomerMonthPoints.SUMMED]


def customer_lapses(customer_id: int, *, until: dt.date, timeline: ExpiryTimeline | None = None) -> list:
    """The lots of one customer that lapse by the start of month `until` and have not yet (two queries:
    the customer's roll-up months, their expiry keys; plus one for the rules unless given)."""
    timeline = timeline or ExpiryTimeline()
    rows = CustomerMonthPoints.objects.filter(customer_id=customer_id).order_by("month").values(*ROLLUP_FIELDS)
    expired = {
        lot_of_key(key): 1
        for key in PointsEntry.objects.filter(customer_id=customer_id, kind=PointsEntry.Kind.EXPIRY)
        .exclude(bonus_key="")
        .values_list("bonus_key", flat=True)
    }
    return engine.lapses(months_of_points(rows), timeline.rule_of, expired=expired, until=until)


@dataclass(frozen=True)
class ExpiringSoon:
    points: int
    first_due: dt.date | None  # the first day points lapse


def points_expiring_soon(customer_id: int, *, days: int = 30, today: dt.date | None = None) -> ExpiringSoon:
    """Points that will lapse within `days` of today (local) if nothing changes: oldest spent first, each lot
    under the rule in force when it was earned. Lapses happen at a month's start, local time."""
    today = today or timezone.localdate()
    horizon = today + dt.timedelta(days=days)
    # Lots already due but not yet expired by the daily command count too: they go at its next run.
    soon = [lapse for lapse in customer_lapses(customer_id, until=month_start(horizon)) if lapse.due <= horizon]
    return ExpiringSoon(
        points=sum(lapse.points for lapse in soon), first_due=min((lapse.due for lapse in soon), default=None)
    )


# ---------------------------------------------------------------------------------------------------
# Tiers: points earned (earn, reversals, bonuses; never reduced by spending) within the program's window.


def program_tiers(program: Program | None = None) -> list[Tier]:
    of_program = {"program": program} if program is not None else {"program__is_default": True}
    return list(Tier.objects.filter(**of_program).select_related("program").order_by("rank"))


def qualifying_tier(tiers: Sequence, earned: int):
    """The highest tier whose threshold `earned` reaches (None below every threshold)."""
    reached = [tier for tier in tiers if earned >= tier.threshold]
    return max(reached, key=lambda tier: tier.rank) if reached else None


def window_start(program: Program, day: dt.date) -> dt.date:
    """The first month of the qualifying window that contains `day`: January of its year, or 11 months before
    its month (the rolling window is whole calendar months, this one included, as the roll-up counts them)."""
    if program.tier_window == Program.TierWindow.CALENDAR_YEAR:
        return dt.date(day.year, 1, 1)
    return add_months(month_start(day), -11)


def points_earned_in_window(customer_id: int, *, day: dt.date, program: Program | None = None) -> int:
    """One query on the customer's roll-up months (its unique (customer, month) index)."""
    program = program or default_program()
    return CustomerMonthPoints.objects.filter(
        customer_id=customer_id, month__gte=window_start(program, day), month__lte=day
    ).aggregate(earned=Coalesce(Sum(CustomerMonthPoints.sum_of(CustomerMonthPoints.QUALIFYING)), 0))["earned"]


@dataclass(frozen=True)
class TierStatus:
    tier: Any  # Tier or None
    since: dt.datetime | None
    earned: int  # points earned within the window
    window: str
    next_tier: Any  # Tier or None
    to_next: int  # points still to earn for the next tier


def customer_tier_status(customer_id: int) -> TierStatus | None:
    """The customer's tier and their progress to the next: one query when the program has no tiers (then
    None), three when it has (its tiers, the customer's tier, their points earned in the window)."""
    tiers = program_tiers()
    if not tiers:
        return None
    program = tiers[0].program
    held = CustomerTier.objects.filter(customer_id=customer_id).select_related("tier").first()
    earned = points_earned_in_window(customer_id, day=timezone.localdate(), program=program)
    rank = held.tier.rank if held else -1
    above = [tier for tier in tiers if tier.rank > rank]
    next_tier = above[0] if above else None
    return TierStatus(
        tier=held.tier if held else None,
        since=held.since if held else None,
        earned=earned,
        window=program.get_tier_window_display(),
        next_tier=next_tier,
        to_next=max(0, next_tier.threshold - earned) if next_tier else 0,
    )


# ---------------------------------------------------------------------------------------------------
# The glance page's figures per store: what a manager compares at month end.


@dataclass(frozen=True)
class StoreFigures:
    name: str
    purchases: int = 0
    sales: Any = 0  # Decimal: purchases' amounts (refunds not deducted)
    members: int = 0  # distinct customers who bought
    repeat_members: int = 0  # of them, those who bought at least twice
    earned: int = 0  # points purchases earned less refunds' reversals
    redeemed: int = 0  # points spent on rewards (undone redemptions left out)

    @property
    def average_purchase(self):
        return self.sales / self.purchases if self.purchases else None

    @property
    def repeat_rate(self) -> float | None:
        """Share of the customers who bought that bought more than once in the period."""
        return self.repeat_members / self.members if self.members else None

    @property
    def redemption_rate(self) -> float | None:
        """Points redeemed for every point earned in the period."""
        return self.redeemed / self.earned if self.earned > 0 else None


def _repeat_by(purchases: QuerySet, group: str | None) -> dict:
    """Customers who bought at least twice, per store (`group`="store_id") or overall (None): purchases
    counted per customer (and store) in SQL, then those counts summed, in one query."""
    keys = ["customer_id"] if group is None else [group, "customer_id"]
    inner, params = purchases.values(*keys).annotate(n=Count("id")).order_by().query.sql_with_params()
    if group is None:
        select, grouping = "0", ""
    else:
        select, grouping = group, f" GROUP BY {group}"
    sql = (
        f"SELECT {select}, COUNT(*), SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END) "  # noqa: S608 (ORM's own SQL)
        f"FROM ({inner}) AS per_customer{grouping}"
    )
    with connections[purchases.db].cursor() as cursor:
        cursor.execute(sql, params)
        return {key: (members, repeat or 0) for key, members, repeat in cursor.fetchall() if members}


def store_figures(*, start: dt.date, months: int) -> tuple[list[StoreFigures], StoreFigures]:
    """Per store and for all stores, over whole local months: purchases, sales, average purchase, customers
    who bought and how many came back, points earned and redeemed (and so the redemption rate). Six
    queries whatever the data: purchases by store (txn_occurred_brin), repeat customers by store and
    overall, points by store from the ledger (pointsentry_effective_brin), redemptions by store, the stores."""
    first, end = local_midnight(start), local_midnight(add_months(start, months))
    purchases = Transaction.objects.filter(kind=Transaction.Kind.PURCHASE, occurred_at__gte=first, occurred_at__lt=end)
    sold = {
        row["store_id"]: row
        for row in purchases.values("store_id")
        .annotate(purchases=Count("id"), sales=Sum("amount"), members=Count("customer_id", distinct=True))
        .order_by()
    }
    repeat = _repeat_by(purchases, "store_id")
    overall = _repeat_by(purchases, None).get(0, (0, 0))
    earned = dict(
        PointsEntry.objects.filter(effective_at__gte=first, effective_at__lt=end, kind__in=EARNED_KINDS)
        .values_list("transaction__store_id")
        .annotate(total=Sum("points"))
        .order_by()
    )
    redeemed = dict(
        Redemption.objects.filter(redeemed_at__gte=first, redeemed_at__lt=end, undone_at__isnull=True)
        .values_list("store_id")
        .annotate(total=Sum("points"))
        .order_by()
    )
    stores = []
    for store_id, name in Store.objects.order_by("name").values_list("pk", "name"):
        row = sold.get(store_id, {})
        if not row and store_id not in earned and store_id not in redeemed:
            continue
        stores.append(
            StoreFigures(
                name=name,
                purchases=row.get("purchases", 0),
                sales=row.get("sales") or 0,
                members=row.get("members", 0),
                repeat_members=repeat.get(store_id, (0, 0))[1],
                earned=earned.get(store_id) or 0,
                redeemed=redeemed.get(store_id) or 0,
            )
        )
    total = StoreFigures(
        name="All stores",
        purchases=sum(s.purchases for s in stores),
        sales=sum((s.sales for s in stores), 0),
        members=overall[0],
        repeat_members=overall[1],
        earned=sum(s.earned for s in stores),
        redeemed=sum(s.redeemed for s in stores),
    )
    return stores, total
