"""The accountant's arithmetic, pure (no Django, no database): the liability roll-forward in points and money,
breakage and the revenue it recognises, and ageing buckets. rewards.liability reads the figures it needs and
calls these; the tests check them by hand.

Money is Decimal throughout. A line's money is exact (points x a value of four decimal places); revenue is
rounded to the cent, half up, on cumulative figures, so that the months of a period add up to its total.

**Valuation.** Every movement is valued at the point value in force at its moment. When the value changes,
the points outstanding at that moment are remeasured: the roll-forward's "revaluation" line, (points
outstanding just before the change) x (new value - old value). So a month's closing balance in money is its
closing points at the value in force when the month ends, and its opening is the previous month's closing:

    opening + issued with sales + issued without sales + reversed + redeemed + expired + adjustments
            + revaluation = closing                 (each line signed as in the ledger)

**Breakage** (IFRS 15 B46, ASC 606-10-55-48, the proportional method), cumulative from the first month:

- redemption rate observed = points redeemed / (points redeemed + points expired): of the points that have
  left balances for good, the share customers used. No such points yet: no evidence, no breakage.
- expected breakage rate B = 1 - that rate, or the merchant's own estimate when one is set.
- sale-linked share = points issued with sales / all points issued (net of refunds and deductions):
  only sale-linked points carry deferred revenue; points given without a sale are a marketing cost.
- revenue from redemptions in a month = the month's redeemed points in money x the sale-linked share.
- breakage recognised to date = (revenue from redemptions to date) x B / (1 - B), never more than B x the
  sale-linked points issued to date in money, never less than the sale-linked share of what has actually
  expired (its likelihood of use is then nil: IFRS 15 B46). A month's breakage revenue is the growth of that
  cumulative figure, so a changed estimate is caught up in the month it changes (IFRS 15 para 87-90).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)
HUNDRED = Decimal(100)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + (month.month - 1) + count
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Version:
    """A point value version: what a point is worth from `effective_from` on."""

    id: int
    effective_from: dt.datetime
    value: Decimal


@dataclass(frozen=True)
class Movement:
    """Points of one kind, in one month and store, at one point value version (a row of the roll-up)."""

    month: dt.date
    store_key: int
    kind: str
    version_id: int
    points: int


@dataclass(frozen=True)
class Amount:
    points: int
    money: Decimal


@dataclass(frozen=True)
class Line:
    kind: str
    label: str
    points: int
    money: Decimal


@dataclass(frozen=True)
class RollForwardMonth:
    month: dt.date
    opening: Amount
    lines: tuple[Line, ...]
    revaluation: Decimal
    closing: Amount
    # The value a point closes the month at, and the closing money it gives (closing points x that value):
    # equal to `closing.money` whenever the roll-up is consistent (the proof compares them).
    closing_value: Decimal
    closing_at_value: Decimal

    def line(self, kind: str) -> Line:
        return next(line for line in self.lines if line.kind == kind)

    @property
    def movement(self) -> Amount:
        return Amount(sum(line.points for line in self.lines), sum((line.money for line in self.lines), ZERO))


def value_before(versions: Sequence[Version], moment: dt.datetime) -> Decimal:
    """The value in force just before `moment` (the first version's for anything before it)."""
    value = versions[0].value
    for version in versions:
        if version.effective_from < moment:
            value = version.value
    return value


def roll_forward(
    movements: Iterable[Movement],
    versions: Sequence[Version],
    months: Sequence[dt.date],
    *,
    starts: Callable[[dt.date], dt.datetime],
    lines: Sequence[tuple[str, str]],
    store_key: int | None = None,
) -> list[RollForwardMonth]:
    """The roll-forward of each month of `months` (consecutive), of one store or of all (`store_key` None).

    `movements` must hold every month up to the last of `months` (the opening balance is all before the
    first); `starts(month)` is the moment a month begins in the merchant's time zone; `lines` lists the
    ledger kinds in the roll-forward's order with their labels; `versions` are in order of start.
    """
    rows = [row for row in movements if store_key is None or row.store_key == store_key]
    by_month: dict[dt.date, list[Movement]] = defaultdict(list)
    for row in rows:
        by_month[row.month].append(row)
    order = {version.id: index for index, version in enumerate(versions)}
    value_of = {version.id: version.value for version in versions}
    # Points outstanding just before each version starts (for its revaluation): those valued at earlier ones.
    before_version = [
        sum(row.points for row in rows if order[row.version_id] < index) for index in range(len(versions))
    ]
    opening_points = sum(row.points for row in rows if row.month < months[0])
    opening_money = opening_points * value_before(versions, starts(months[0]))
    result = []
    for month in months:
        begins, ends = starts(month), starts(add_months(month, 1))
        points: dict[str, int] = defaultdict(int)
        money: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for row in by_month.get(month, ()):
            points[row.kind] += row.points
            money[row.kind] += row.points * value_of[row.version_id]
        revaluation = sum(
            (
                before_version[index] * (version.value - versions[index - 1].value)
                for index, version in enumerate(versions)
                if index and begins <= version.effective_from < ends
            ),
            ZERO,
        )
        month_lines = tuple(Line(kind, label, points[kind], money[kind]) for kind, label in lines)
        closing_points = opening_points + sum(line.points for line in month_lines)
        closing_money = opening_money + sum((line.money for line in month_lines), ZERO) + revaluation
        closing_value = value_before(versions, ends)
        result.append(
            RollForwardMonth(
                month=month,
                opening=Amount(opening_points, opening_money),
                lines=month_lines,
                revaluation=revaluation,
                closing=Amount(closing_points, closing_money),
                closing_value=closing_value,
                closing_at_value=closing_points * closing_value,
            )
        )
        opening_points, opening_money = closing_points, closing_money
    return result


@dataclass(frozen=True)
class PeriodSummary:
    """A period of a roll-forward in one row: the first opening, the lines added up, the last closing."""

    first: dt.date
    last: dt.date
    opening: Amount
    lines: tuple[Line, ...]
    revaluation: Decimal
    closing: Amount


def summarise(months: Sequence[RollForwardMonth]) -> PeriodSummary:
    lines = tuple(
        Line(
            line.kind,
            line.label,
            sum(month.lines[index].points for month in months),
            sum((month.lines[index].money for month in months), ZERO),
        )
        for index, line in enumerate(months[0].lines)
    )
    return PeriodSummary(
        first=months[0].month,
        last=months[-1].month,
        opening=months[0].opening,
        lines=lines,
        revaluation=sum((month.revaluation for month in months), ZERO),
        closing=months[-1].closing,
    )


# ---------------------------------------------------------------------------------------------------
# Breakage and revenue.

OBSERVED, MANUAL, NO_EVIDENCE = "observed", "manual", "no evidence"


@dataclass(frozen=True)
class MonthTotals:
    """One month of the whole program (all stores): points and money by kind, and its closing balance."""

    month: dt.date
    points: dict[str, int]
    money: dict[str, Decimal]
    closing: Amount


@dataclass(frozen=True)
class BreakageMonth:
    month: dt.date
    redeemed_to_date: int  # points redeemed since the first month (net of undone redemptions)
    expired_to_date: int
    observed_rate: Decimal | None  # the redemption rate observed, 0..1; None without evidence
    source: str  # OBSERVED, MANUAL or NO_EVIDENCE: which breakage rate is used
    manual_rate: Decimal | None  # the merchant's estimate in percent, when set
    breakage_rate: Decimal  # B, 0..1
    sale_share: Decimal  # 0..1
    redemption_revenue: Decimal
    breakage_revenue: Decimal
    breakage_to_date: Decimal
    expected_breakage: Amount  # of the closing balance

    @property
    def revenue(self) -> Decimal:
        return self.redemption_revenue + self.breakage_revenue

    @property
    def breakage_percent(self) -> Decimal:
        return percent(self.breakage_rate)

    @property
    def observed_percent(self) -> Decimal | None:
        return None if self.observed_rate is None else percent(self.observed_rate)

    @property
    def sale_share_percent(self) -> Decimal:
        return percent(self.sale_share)


def percent(ratio: Decimal) -> Decimal:
    """A ratio as a percentage for people, to the hundredth (the figures themselves keep every digit)."""
    return (ratio * HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)


def _ratio(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


def breakage(
    months: Sequence[MonthTotals],
    *,
    manual_rate: Callable[[dt.date], Decimal | None],
    kinds: dict[str, str],
    sale_linked: Sequence[str],
) -> list[BreakageMonth]:
    """Breakage and revenue of every month of `months` (consecutive, from the program's first month, since
    the figures are cumulative). `manual_rate(month)` is the merchant's estimate in force (percent) or None;
    `kinds` names the ledger kinds this needs ({"redemption": ..., "expiry": ...}); `sale_linked` lists the
    sale-linked kinds. See the module's docstring for the method."""
    redemption, expiry = kinds["redemption"], kinds["expiry"]
    spent_kinds = {redemption, expiry}
    issued_sale = issued_other = redeemed = expired = 0
    sale_value = expired_value = redemption_revenue_to_date = ZERO
    previous_target = ZERO
    result = []
    for totals in months:
        for kind, points in totals.points.items():
            if kind in sale_linked:
                issued_sale += points
                sale_value += totals.money.get(kind, ZERO)
            elif kind not in spent_kinds:
                issued_other += points
        redeemed -= totals.points.get(redemption, 0)
        expired -= totals.points.get(expiry, 0)
        expired_value -= totals.money.get(expiry, ZERO)
        settled = max(redeemed, 0) + max(expired, 0)
        observed = _ratio(max(redeemed, 0), settled)
        manual = manual_rate(totals.month)
        if manual is not None:
            rate, source = manual / HUNDRED, MANUAL
        elif observed is not None:
            rate, source = 1 - observed, OBSERVED
        else:
            rate, source = ZERO, NO_EVIDENCE
        sale, other = max(issued_sale, 0), max(issued_other, 0)
        share = _ratio(sale, sale + other) or ZERO
        redemption_revenue = cents(-totals.money.get(redemption, ZERO) * share)
        redemption_revenue_to_date += redemption_revenue
        cap = rate * max(sale_value, ZERO)
        # All breakage and no redemption to be proportional to: only what has actually expired is recognised.
        proportional = ZERO if rate >= 1 else redemption_revenue_to_date * rate / (1 - rate)
        target = cents(max(max(expired_value, ZERO) * share, min(cap, proportional), ZERO))
        closing = totals.closing
        result.append(
            BreakageMonth(
                month=totals.month,
                redeemed_to_date=redeemed,
                expired_to_date=expired,
                observed_rate=observed,
                source=source,
                manual_rate=manual,
                breakage_rate=rate,
                sale_share=share,
                redemption_revenue=redemption_revenue,
                breakage_revenue=target - previous_target,
                breakage_to_date=target,
                expected_breakage=Amount(
                    int((rate * max(closing.points, 0)).to_integral_value(rounding=ROUND_HALF_UP)),
                    cents(rate * max(closing.money, ZERO)),
                ),
            )
        )
        previous_target = target
    return result


# ---------------------------------------------------------------------------------------------------
# Ageing.

# Age in whole calendar months between the month points were earned and the month of the report: points of
# the report's month and the two before it are 0-3 months old, and so on.
AGE_BUCKETS: tuple[tuple[int, int | None, str], ...] = (
    (0, 3, "0–3 months"),
    (3, 6, "3–6 months"),
    (6, 12, "6–12 months"),
    (12, None, "Over 12 months"),
)


def months_between(earlier: dt.date, later: dt.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def age_bucket(lot: dt.date, as_of: dt.date) -> int:
    """The index in AGE_BUCKETS of points earned in month `lot`, seen at the end of month `as_of`."""
    age = months_between(lot, as_of)
    for index, (low, high, _label) in enumerate(AGE_BUCKETS):
        if age >= low and (high is None or age < high):
            return index
    return 0  # a lot later than the report's month cannot be outstanding at its end; never reached
