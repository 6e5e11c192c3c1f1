"""The accountant's arithmetic (rewards.accounting), pure: figures checked by hand, no database."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewards import accounting
from rewards.accounting import Amount, MonthTotals, Movement, Version
from rewards.models import KIND_ACCOUNTING, SALE_LINKED_KINDS, LedgerKind

UTC = dt.UTC
JAN, FEB, MAR, APR, MAY = (dt.date(2025, month, 1) for month in range(1, 6))
LINES = [(kind, accounting.line) for kind, accounting in KIND_ACCOUNTING.items()]
CENT_VALUE = Version(1, dt.datetime(1900, 1, 1, tzinfo=UTC), Decimal("0.0100"))


def starts(month: dt.date) -> dt.datetime:
    return dt.datetime(month.year, month.month, 1, tzinfo=UTC)


def test_every_ledger_kind_says_whether_it_is_sale_linked_and_its_line():
    assert set(KIND_ACCOUNTING) == set(LedgerKind.values)
    assert SALE_LINKED_KINDS == (LedgerKind.EARN, LedgerKind.REVERSAL)
    assert LedgerKind.EARN.sale_linked and LedgerKind.REVERSAL.sale_linked
    assert not any(LedgerKind(kind).sale_linked for kind in ("bonus", "adjustment", "redemption", "expiry"))
    assert LedgerKind.BONUS.roll_forward_line == "Issued without sales (bonuses)"


def test_roll_forward_month_by_month_in_points_and_money():
    rows = [
        Movement(JAN, 1, "earn", 1, 90),
        Movement(JAN, 2, "earn", 1, 30),
        Movement(FEB, 1, "redemption", 1, -20),
        Movement(FEB, 0, "adjustment", 1, -5),
        Movement(MAR, 2, "reversal", 1, -10),
    ]
    jan, feb, mar = accounting.roll_forward(rows, [CENT_VALUE], [JAN, FEB, MAR], starts=starts, lines=LINES)
    assert (jan.opening, jan.closing) == (Amount(0, Decimal(0)), Amount(120, Decimal("1.2000")))
    assert jan.line("earn") == accounting.Line("earn", "Issued with sales", 120, Decimal("1.2000"))
    assert feb.opening == jan.closing
    assert (feb.line("redemption").points, feb.line("adjustment").points, feb.closing.points) == (-20, -5, 95)
    assert mar.closing == Amount(85, Decimal("0.8500"))
    assert mar.closing_at_value == mar.closing.money
    # One store's: store 2 issued 30 and reversed 10.
    [*_, store_mar] = accounting.roll_forward(
        rows, [CENT_VALUE], [JAN, FEB, MAR], starts=starts, lines=LINES, store_key=2
    )
    assert store_mar.closing.points == 20


def test_a_changed_point_value_revalues_what_is_outstanding_at_that_moment():
    doubled = Version(2, dt.datetime(2025, 2, 15, tzinfo=UTC), Decimal("0.0200"))
    rows = [
        Movement(JAN, 1, "earn", 1, 100),
        Movement(FEB, 1, "redemption", 1, -30),  # before the 15th: at 0.01
        Movement(FEB, 1, "earn", 2, 50),  # after it: at 0.02
    ]
    jan, feb, mar = accounting.roll_forward(rows, [CENT_VALUE, doubled], [JAN, FEB, MAR], starts=starts, lines=LINES)
    assert jan.closing == Amount(100, Decimal("1.0000"))
    # 70 points outstanding when the value doubled: revalued by 70 x 0.01.
    assert feb.revaluation == Decimal("0.7000")
    assert feb.line("redemption").money == Decimal("-0.3000")
    assert feb.line("earn").money == Decimal("1.0000")
    assert feb.closing == Amount(120, Decimal("2.4000")) == Amount(120, feb.closing_at_value)
    assert mar.opening == feb.closing and mar.revaluation == 0


def test_a_value_starting_with_a_month_revalues_its_opening_balance():
    from_march = Version(2, starts(MAR), Decimal("0.0150"))
    rows = [Movement(JAN, 1, "earn", 1, 200), Movement(MAR, 1, "earn", 2, 100)]
    feb, mar = accounting.roll_forward(rows, [CENT_VALUE, from_march], [FEB, MAR], starts=starts, lines=LINES)
    assert feb.closing.money == Decimal("2.0000")  # February closes at the value in force until it ends
    assert mar.opening.money == Decimal("2.0000")
    assert mar.revaluation == Decimal("1.0000")  # 200 x 0.005
    assert mar.closing == Amount(300, Decimal("4.5000"))


def test_the_period_summary_adds_the_months_up():
    rows = [Movement(JAN, 1, "earn", 1, 90), Movement(FEB, 1, "earn", 1, 10), Movement(FEB, 1, "expiry", 1, -5)]
    months = accounting.roll_forward(rows, [CENT_VALUE], [JAN, FEB], starts=starts, lines=LINES)
    summary = accounting.summarise(months)
    assert (summary.opening.points, summary.closing.points) == (0, 95)
    assert [(line.kind, line.points) for line in summary.lines if line.points] == [("earn", 100), ("expiry", -5)]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([JAN, FEB, MAR, APR]),
            st.sampled_from(list(LedgerKind.values)),
            st.integers(min_value=-10_000, max_value=10_000),
            st.integers(min_value=0, max_value=2),
        ),
        max_size=30,
    ),
    st.lists(st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("5"), places=4), min_size=2, max_size=2),
)
def test_closing_money_is_always_the_closing_points_at_the_closing_value(entries, values):
    """Whatever moves and whatever the value does, the money roll-forward lands on points x value."""
    versions = [
        CENT_VALUE,
        Version(2, dt.datetime(2025, 2, 10, tzinfo=UTC), values[0]),
        Version(3, starts(APR), values[1]),
    ]
    # An entry carries the version in force at its moment: January's the first; February's the first or the
    # second (before or after the 10th); March's the second; April's the third.
    in_force = {JAN: (1, 1, 1), FEB: (1, 2, 2), MAR: (2, 2, 2), APR: (3, 3, 3)}
    rows = [Movement(month, 1, kind, in_force[month][index], points) for month, kind, points, index in entries]
    for month in accounting.roll_forward(rows, versions, [JAN, FEB, MAR, APR], starts=starts, lines=LINES):
        assert month.closing.money == month.closing_at_value


# --- breakage ---------------------------------------------------------------------------------------


def totals(month, *, earn=0, redemption=0, expiry=0, bonus=0, value=Decimal("0.01"), closing=0) -> MonthTotals:
    points = {"earn": earn, "redemption": redemption, "expiry": expiry, "bonus": bonus}
    return MonthTotals(
        month=month,
        points=points,
        money={kind: count * value for kind, count in points.items()},
        closing=Amount(closing, closing * value),
    )


def breakage(months, manual=None):
    return accounting.breakage(
        months,
        manual_rate=manual or (lambda month: None),
        kinds={"redemption": "redemption", "expiry": "expiry"},
        sale_linked=("earn", "reversal"),
    )


def test_proportional_breakage_with_an_estimate_of_twenty_percent():
    """1,000 points issued with sales (10.00); 20% expected never to be used, so 800 are expected to be redeemed.
    Each redemption recognises its own value and a quarter of it in breakage (0.2 / 0.8)."""
    months = breakage(
        [
            totals(JAN, earn=1000, closing=1000),
            totals(FEB, redemption=-400, closing=600),  # 4.00 redeemed: breakage 1.00
            totals(MAR, redemption=-400, closing=200),  # 8.00 to date: breakage 2.00, all that was expected
            totals(APR, redemption=-100, closing=100),  # more than expected: nothing more than B x 10.00
        ],
        manual=lambda month: Decimal(20),
    )
    assert [month.redemption_revenue for month in months] == [0, Decimal("4.00"), Decimal("4.00"), Decimal("1.00")]
    assert [month.breakage_revenue for month in months] == [0, Decimal("1.00"), Decimal("1.00"), 0]
    assert [month.breakage_to_date for month in months] == [0, Decimal("1.00"), Decimal("2.00"), Decimal("2.00")]
    assert months[1].revenue == Decimal("5.00")
    assert {month.source for month in months} == {accounting.MANUAL}
    assert months[1].expected_breakage == Amount(120, Decimal("1.20"))  # 20% of the 600 points (6.00) left


def test_a_changed_estimate_is_caught_up_in_its_month():
    months = breakage(
        [totals(JAN, earn=1000), totals(FEB, redemption=-400), totals(MAR)],
        manual=lambda month: Decimal(20) if month < MAR else Decimal(50),
    )
    # To date at 50%: 4.00 x 0.5 / 0.5 = 4.00; 1.00 was recognised in February, so March catches up 3.00.
    assert [month.breakage_revenue for month in months] == [0, Decimal("1.00"), Decimal("3.00")]


def test_the_observed_rate_is_redeemed_over_redeemed_and_expired():
    months = breakage(
        [
            totals(JAN, earn=1000),
            totals(FEB),  # nothing settled yet: no evidence, no breakage
            totals(MAR, redemption=-300, expiry=-100),  # 300 / 400 redeemed: B = 25%
        ]
    )
    assert (months[1].source, months[1].observed_rate, months[1].breakage_rate) == (accounting.NO_EVIDENCE, None, 0)
    assert months[2].observed_rate == Decimal("0.75") and months[2].breakage_rate == Decimal("0.25")
    assert months[2].source == accounting.OBSERVED
    # Proportional: 3.00 x 0.25/0.75 = 1.00; at least the 1.00 that expired; at most 0.25 x 10.00.
    assert months[2].breakage_revenue == Decimal("1.00")


def test_only_the_sale_linked_share_of_a_redemption_is_revenue():
    months = breakage([totals(JAN, earn=750, bonus=250), totals(FEB, redemption=-100)])
    assert months[1].sale_share == Decimal("0.75")
    assert months[1].redemption_revenue == Decimal("0.75")  # 1.00 redeemed x 750 / 1,000


def test_what_has_expired_is_breakage_even_without_an_estimate():
    """No redemption at all, some points expired: the observed rate is 0%, B is 100%, and only what has actually
    expired (its sale-linked share) is recognised: nothing is recognised ahead of the evidence."""
    months = breakage([totals(JAN, earn=800, bonus=200), totals(FEB, expiry=-100)])
    assert months[1].breakage_rate == 1
    assert months[1].breakage_revenue == Decimal("0.80")  # 1.00 expired x 800 / 1,000


def test_an_undone_redemption_takes_its_revenue_back():
    months = breakage([totals(JAN, earn=1000), totals(FEB, redemption=-100), totals(MAR, redemption=100)])
    assert [month.redemption_revenue for month in months] == [0, Decimal("1.00"), Decimal("-1.00")]


# --- ageing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lot", "bucket"),
    [
        (MAR, 0),
        (JAN, 0),  # two months before March: still 0-3
        (dt.date(2024, 12, 1), 1),
        (dt.date(2024, 10, 1), 1),
        (dt.date(2024, 9, 1), 2),
        (dt.date(2024, 4, 1), 2),
        (dt.date(2024, 3, 1), 3),  # twelve months
        (dt.date(2019, 3, 1), 3),
    ],
)
def test_age_buckets_count_whole_calendar_months(lot, bucket):
    assert accounting.age_bucket(lot, MAR) == bucket


def test_percentages_for_people_round_to_the_hundredth():
    assert accounting.percent(Decimal(11) / Decimal(13)) == Decimal("84.62")
