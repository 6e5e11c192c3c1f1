"""The monthly report's precomputed windows (rewards.CustomerWindowPoints, CustomerWindowCount): the page read
from them equals the page grouped from the roll-up, and every path that writes the ledger keeps them exact."""

import datetime as dt
import importlib
import io
import time
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from rewards.models import CustomerMonthPoints, CustomerWindowCount, CustomerWindowPoints, ExpiryPolicy, PointsEntry
from rewards.selectors import default_program, grouped_points, month_columns, monthly_points
from rewards.services.adjustments import request_adjustment
from rewards.services.expiry import expire_points
from rewards.services.ledger import fold_into_rollup, rebuild_windows, rollup_differences, window_differences
from rewards.services.redemption import redeem, undo_redemption
from rewards.tables import MonthlyPointsTable
from tests.concurrency import at_once
from tests.factories import CustomerFactory, RewardFactory, at, default_store, purchase, refund
from tests.migration_rows import restore_migration_rows
from transactions.importing import import_transactions

pytestmark = pytest.mark.django_db

JANUARY = dt.date(2025, 1, 1)
# Every sortable column of a period starting in January, both ways, and the default order.
SORTS = [
    None,
    "member_number",
    "-member_number",
    "name",
    "-name",
    "total",
    "-total",
    "m_2025_01",
    "-m_2025_02",
    "m_2025_03",
    "redeemed",
    "-redeemed",
]


def proved() -> None:
    """check_points_rollup passes: the roll-up equals the ledger, the windows and counts the roll-up."""
    assert rollup_differences() == []
    assert window_differences() == []
    out = io.StringIO()
    call_command("check_points_rollup", stdout=out, stderr=io.StringIO())
    assert out.getvalue().strip() == "The roll-up equals the ledger."


@pytest.fixture
def ledger(manager, staff):
    """Customers created in the reverse order of their member numbers (so that ids do not break ties as
    member numbers do), with equal totals, zero totals, negative totals and spending only:

    Z9, Y8, X7: 90 each in January (a three-way tie). W6: 90 in January, refunded in full in February (0).
    V5: 90 in December 2024, refunded 30 in January (-60 in the period). U4: 90 in December, redeems 50 in
    February: only a redemption in the period (total 0). T3: 10 in March (bought in the period's last month).
    S2: 90 in January and more in April (outside the period). R1: nothing at all (never in the report).
    """
    customers = {
        number: CustomerFactory(member_number=number, name=f"Name {number}")
        for number in ["Z9", "Y8", "X7", "W6", "V5", "U4", "T3", "S2", "R1"]
    }
    for number in ["Z9", "Y8", "X7"]:
        purchase(customers[number], "120.00", when=at(2025, 1, 10))
    refund(purchase(customers["W6"], "120.00", when=at(2025, 1, 11)), "120.00", when=at(2025, 2, 2))
    refund(purchase(customers["V5"], "120.00", when=at(2024, 12, 5)), "40.00", when=at(2025, 1, 3))
    purchase(customers["U4"], "120.00", when=at(2024, 12, 6))
    redeem(
        customer=customers["U4"],
        reward=RewardFactory(points_cost=50),
        store=default_store(),
        redeemed_by=staff,
        moment=at(2025, 2, 3),
    )
    purchase(customers["T3"], "60.00", when=at(2025, 3, 31, 23, 30))
    purchase(customers["S2"], "120.00", when=at(2025, 1, 12))
    purchase(customers["S2"], "40.00", when=at(2025, 4, 1, 0, 30))
    return customers


def ordered(report, sort: str | None) -> list[dict]:
    """The report's rows in the order the page shows them for `sort` (the table's own ordering)."""
    table = MonthlyPointsTable(report.rows, months=report.months)
    if sort:
        table.order_by = sort
    return [dict(row) for row in table.data.data]


def grouped(start: dt.date):
    return grouped_points(month_columns(start, CustomerWindowPoints.MONTHS))


@pytest.mark.parametrize("sort", SORTS)
def test_the_windowed_page_equals_the_grouped_page_in_every_order(ledger, sort):
    windowed = monthly_points(start=JANUARY, months=3)
    assert windowed.windowed

    assert ordered(windowed, sort) == ordered(grouped(JANUARY), sort)


def test_ties_zeros_and_spending_only_are_ordered_as_the_grouped_report_orders_them(ledger):
    by_total = [
        (row["member_number"], row["total"], row["redeemed"])
        for row in ordered(monthly_points(start=JANUARY, months=3), "-total")
    ]

    assert by_total == [
        ("S2", 90, 0),
        ("X7", 90, 0),
        ("Y8", 90, 0),
        ("Z9", 90, 0),
        ("T3", 10, 0),
        ("U4", 0, -50),
        ("W6", 0, 0),
        ("V5", -60, 0),
    ]
    ascending = [row["member_number"] for row in ordered(monthly_points(start=JANUARY, months=3), "total")]
    assert ascending == ["V5", "U4", "W6", "T3", "S2", "X7", "Y8", "Z9"]


@pytest.mark.parametrize("page", [1, 2, 3])
@pytest.mark.parametrize("sort", ["-total", "total"])
def test_every_page_of_the_managers_page_is_the_grouped_reports_page(manager_client, ledger, sort, page):
    query = {"start": "2025-01", "months": "3", "sort": sort, "page": page, "per_page": 3}
    response = manager_client.get("/reports/points/", query)
    assert response.status_code == 200
    table = response.context["table"]
    shown = [row.record for row in table.paginated_rows]
    expected = ordered(grouped(JANUARY), sort)[(page - 1) * 3 : page * 3]

    assert response.context["report"].windowed
    assert expected
    assert [dict(row) for row in shown] == expected
    assert response.context["row_count"] == 8


@pytest.mark.parametrize("start", [dt.date(2024, 10, 1), dt.date(2024, 11, 1), JANUARY, dt.date(2025, 3, 1)])
def test_count_and_footer_equal_the_grouped_reports(ledger, start, django_assert_num_queries):
    windowed = monthly_points(start=start, months=3)
    with django_assert_num_queries(1):
        count, totals = windowed.count_and_totals()

    assert (count, totals) == grouped(start).count_and_totals()
    assert count == len(list(windowed.rows))


def test_a_period_nobody_has_entries_in_is_empty(ledger):
    report = monthly_points(start=dt.date(2023, 1, 1), months=3)

    assert list(report.rows) == []
    assert report.count_and_totals() == (
        0,
        dict.fromkeys(["m_2023_01", "m_2023_02", "m_2023_03", "total", "redeemed", "expired", "adjusted"], 0),
    )


@pytest.mark.parametrize(
    "arguments",
    [
        {"months": 2},
        {"months": 12},
        {"months": 3, "store_id": "STORE"},
    ],
)
def test_other_periods_and_a_store_keep_the_grouped_report(ledger, arguments):
    if arguments.get("store_id") == "STORE":
        arguments["store_id"] = default_store().pk

    assert not monthly_points(start=JANUARY, **arguments).windowed


# A search on the member number or the name (any case), a minimum total (0 and negative totals included), both.
FILTERS = [
    {"search": "Z9"},
    {"search": "name"},
    {"search": " y8 "},
    {"search": "nobody"},
    {"min_total": 1},
    {"min_total": 90},
    {"min_total": 0},
    {"min_total": -60},
    {"min_total": 91},
    {"search": "name x", "min_total": 0},
]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("sort", SORTS)
def test_a_search_and_a_minimum_total_read_the_windows_and_give_the_grouped_rows(ledger, filters, sort):
    windowed = monthly_points(start=JANUARY, months=3, **filters)
    assert windowed.windowed and windowed.filtered

    assert ordered(windowed, sort) == ordered(grouped_points(month_columns(JANUARY, 3), **filters), sort)


@pytest.mark.parametrize("filters", FILTERS)
def test_the_count_and_footer_of_a_searched_or_limited_period_are_its_rows(ledger, filters, django_assert_num_queries):
    windowed = monthly_points(start=JANUARY, months=3, **filters)
    with django_assert_num_queries(1):
        count, totals = windowed.count_and_totals()

    assert (count, totals) == grouped_points(month_columns(JANUARY, 3), **filters).count_and_totals()
    assert count == len(list(windowed.rows))


def test_the_managers_page_reads_the_windows_in_a_fixed_number_of_queries(manager_client, ledger):
    # session, user, permissions (2); count and footer in one; the page of rows; the store choices.
    with CaptureQueriesContext(connection) as queries:
        response = manager_client.get("/reports/points/", {"start": "2025-01", "months": "3", "sort": "-total"})
    assert response.status_code == 200
    assert len(queries) == 4 + 3
    assert sum("rewards_customerwindowpoints" in query["sql"] for query in queries) == 1
    assert not any("rewards_customermonthpoints" in query["sql"] for query in queries)


# --- kept exact by every path that writes the ledger ------------------------------------------------


def window(customer, start: dt.date) -> dict:
    return (
        CustomerWindowPoints.objects.filter(customer=customer, start_month=start)
        .values("earned", "earned_first", "earned_second", "earned_third", "redeemed", "expired", "adjusted")
        .get()
    )


def counted(start: dt.date) -> int:
    return sum(CustomerWindowCount.objects.filter(start_month=start).values_list("customers", flat=True))


def test_a_purchase_counts_in_the_three_windows_that_contain_its_month(db):
    ann = CustomerFactory(member_number="A1")
    purchase(ann, "120.00", when=at(2025, 3, 10))

    assert set(CustomerWindowPoints.objects.filter(customer=ann).values_list("start_month", flat=True)) == {
        dt.date(2025, 1, 1),
        dt.date(2025, 2, 1),
        dt.date(2025, 3, 1),
    }
    assert window(ann, dt.date(2025, 1, 1))["earned_third"] == 90
    assert window(ann, dt.date(2025, 2, 1))["earned_second"] == 90
    assert window(ann, dt.date(2025, 3, 1))["earned_first"] == 90
    assert [counted(dt.date(2025, month, 1)) for month in (1, 2, 3, 4)] == [1, 1, 1, 0]
    proved()


def test_a_customers_second_purchase_in_a_window_adds_to_it_without_counting_them_twice(db):
    ann, bob = CustomerFactory(member_number="A1"), CustomerFactory(member_number="B1")
    purchase(ann, "120.00", when=at(2025, 3, 10))
    purchase(ann, "60.00", when=at(2025, 3, 12))
    purchase(ann, "60.00", when=at(2025, 4, 2))
    purchase(bob, "60.00", when=at(2025, 4, 3))

    assert window(ann, dt.date(2025, 3, 1))["earned"] == 90 + 10 + 10
    assert [counted(dt.date(2025, month, 1)) for month in (1, 2, 3, 4)] == [1, 2, 2, 2]
    proved()


def test_the_till_a_refund_a_redemption_and_its_undoing_keep_the_windows_exact(ledger, staff, manager):
    proved()
    bought = purchase(ledger["R1"], "120.00", when=at(2025, 2, 14))
    proved()
    refund(bought, "20.00", when=at(2025, 3, 1))
    proved()
    redemption = redeem(
        customer=ledger["R1"],
        reward=RewardFactory(points_cost=20),
        store=default_store(),
        redeemed_by=staff,
        moment=at(2025, 3, 2),
    )
    proved()
    undo_redemption(redemption=redemption, undone_by=manager, moment=at(2025, 3, 3))
    proved()
    assert window(ledger["R1"], JANUARY) == {
        "earned": 90 - 40,
        "earned_first": 0,
        "earned_second": 90,
        "earned_third": -40,
        "redeemed": 0,
        "expired": 0,
        "adjusted": 0,
    }


def test_adjustments_and_expiry_keep_the_windows_exact(ledger, manager):
    request_adjustment(customer=ledger["Z9"], points=5, reason="goodwill", requested_by=manager, moment=at(2025, 2, 4))
    proved()
    ExpiryPolicy.objects.create(
        program=default_program(),
        effective_month=dt.date(2024, 12, 1),
        kind="after_months",
        months=1,
        changed_by=manager,
    )
    assert expire_points(day=dt.date(2025, 3, 1)) > 0
    proved()
    assert window(ledger["Z9"], JANUARY)["adjusted"] == 5
    assert window(ledger["Z9"], JANUARY)["expired"] < 0
    assert ordered(monthly_points(start=JANUARY, months=3), "-expired") == ordered(grouped(JANUARY), "-expired")


def test_an_import_keeps_the_windows_exact(ledger, tmp_path):
    path = tmp_path / "record.csv"
    path.write_text(
        "customer_id,customer_name,transaction_id,amount,occurred_at,store,kind,refund_of\n"
        "Z9,Name Z9,IMP1,120.00,2025-01-15T10:00:00,,,\n"
        "N1,New One,IMP2,60.50,2025-02-20,,,\n"
        "N1,New One,IMP3,30.00,2025-05-03T09:00:00,,,\n"
        "N1,New One,IMP4,30.00,2025-05-04T09:00:00,,refund,IMP3\n",
        encoding="utf-8",
    )
    result = import_transactions(path)
    assert not result.errors

    proved()
    assert window(ledger["Z9"], JANUARY)["earned"] == 180
    assert ordered(monthly_points(start=JANUARY, months=3), "-total") == ordered(grouped(JANUARY), "-total")
    assert monthly_points(start=JANUARY, months=3).count_and_totals() == grouped(JANUARY).count_and_totals()


# --- proved and repaired by check_points_rollup ------------------------------------------------------


def test_a_tampered_window_or_count_is_detected_and_repaired(ledger):
    CustomerWindowPoints.objects.filter(customer=ledger["Z9"], start_month=JANUARY).update(earned=91)
    CustomerWindowPoints.objects.filter(customer=ledger["Y8"], start_month=JANUARY).delete()
    CustomerWindowCount.objects.filter(start_month=dt.date(2025, 2, 1)).update(customers=99)

    differences = window_differences()
    found = {(d.customer_id, d.shard, d.start_month) for d in differences}
    assert (ledger["Z9"].pk, None, JANUARY) in found
    assert (ledger["Y8"].pk, None, JANUARY) in found
    assert any(d.shard is not None and d.start_month == dt.date(2025, 2, 1) for d in differences)

    err = io.StringIO()
    with pytest.raises(CommandError, match="report window"):
        call_command("check_points_rollup", stdout=io.StringIO(), stderr=err)
    assert "customer Z9 window from 2025-01: roll-up earned=90" in err.getvalue()

    out = io.StringIO()
    call_command("check_points_rollup", "--repair", stdout=out, stderr=io.StringIO())
    assert "windows were rebuilt" in out.getvalue()
    proved()


def test_rebuilding_gives_the_windows_the_folds_gave(ledger):
    before = sorted(CustomerWindowPoints.objects.values_list(named=True))
    counts = sorted(CustomerWindowCount.objects.values_list("start_month", "shard", "customers"))

    assert rebuild_windows() == len(before)
    assert sorted(CustomerWindowPoints.objects.values_list(named=True)) == before
    assert sorted(CustomerWindowCount.objects.values_list("start_month", "shard", "customers")) == counts


def test_a_tampered_roll_up_is_rebuilt_with_its_windows(ledger):
    CustomerMonthPoints.objects.filter(customer=ledger["Z9"], month=JANUARY).update(earned=1)
    with pytest.raises(CommandError, match="roll-up differs from the ledger"):
        call_command("check_points_rollup", stdout=io.StringIO(), stderr=io.StringIO())

    call_command("check_points_rollup", "--repair", stdout=io.StringIO(), stderr=io.StringIO())
    proved()


# --- PostgreSQL: the page is a range of one index ----------------------------------------------------


@pytest.mark.parametrize("minimum", [None, "50"])
@pytest.mark.parametrize("sort", ["-total", "total"])
def test_the_first_page_sorted_by_total_reads_a_range_of_the_windows_index(manager_client, ledger, sort, minimum):
    """A minimum total is a bound of the same range (the index condition), not a filter of every row."""
    if connection.vendor != "postgresql":
        pytest.skip("the plan of PostgreSQL's planner")
    query = {"start": "2025-01", "months": "3", "sort": sort, **({"min_total": minimum} if minimum else {})}
    with CaptureQueriesContext(connection) as queries:
        manager_client.get("/reports/points/", query)
    page = next(sql for query in queries if "rewards_customerwindowpoints" in (sql := query["sql"]) and "LIMIT" in sql)
    with connection.cursor() as cursor:
        # A few rows would be scanned and sorted whole; a period of a million customers is not (the chain's
        # plan, README): here the planner is only asked whether the index can serve the order.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + page)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scan = "Index Scan Backward" if sort == "total" else "Index Scan"
    assert f"{scan} using cwp_start_earned_idx" in plan
    if minimum:
        assert f"(earned >= {minimum})" in plan.split("Index Cond:")[1].splitlines()[0]
    # Only the runs of equal totals are sorted, by member number.
    assert "Incremental Sort" in plan
    assert "Presorted Key: rewards_customerwindowpoints.earned" in plan


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_tills_creating_the_same_window_at_once_count_it_once():
    """Two transactions fold entries of one customer into windows that do not exist yet, at the same moment:
    the second waits on the first's new rows and adds to them, so each window is counted once (a count of
    the windows that did not exist before the upsert, as on SQLite, would count it twice here)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the two folds cannot race")
    restore_migration_rows()  # a transactional test may follow one that emptied the database
    ann = CustomerFactory(member_number="A1")
    purchase(ann, "120.00", when=at(2025, 3, 10))
    entries = list(PointsEntry.objects.filter(customer=ann).values_list("pk", flat=True))
    # As if the purchase had not been folded yet: its windows and their counts do not exist.
    CustomerWindowPoints.objects.all().delete()
    CustomerWindowCount.objects.all().delete()

    def fold() -> None:
        with transaction.atomic():
            fold_into_rollup(PointsEntry.objects.filter(pk__in=entries))
            time.sleep(0.3)  # hold the new rows uncommitted while the other fold arrives

    at_once(2, fold)

    assert [counted(dt.date(2025, month, 1)) for month in (1, 2, 3)] == [1, 1, 1]
    assert window(ann, dt.date(2025, 3, 1))["earned"] == 2 * 90  # both folds added their entry


def test_the_migrations_frozen_fill_equals_the_rebuild(db):
    """Migration 0021 fills the windows with its own frozen copy of rebuild_windows' SQL: on the same roll-up, the
    same windows and counts (proved by window_differences, which reads what the roll-up implies)."""
    fill = importlib.import_module("rewards.migrations.0021_customer_windows_for_the_monthly_report").fill_windows
    first, second = CustomerFactory(), CustomerFactory()
    purchase(first, "120.00", when=at(2025, 1, 10))
    purchase(first, "80.00", when=at(2025, 3, 10))
    bought = purchase(second, "200.00", when=at(2025, 2, 3))
    refund(bought, "50.00", when=at(2025, 4, 1))
    rebuilt = sorted(CustomerWindowPoints.objects.values_list(*WINDOW_FIELDS))
    CustomerWindowCount.objects.all().delete()
    CustomerWindowPoints.objects.all().delete()
    fill(None, SimpleNamespace(connection=connection))  # all it reads of its schema editor
    assert sorted(CustomerWindowPoints.objects.values_list(*WINDOW_FIELDS)) == rebuilt
    assert window_differences() == []


WINDOW_FIELDS = ("customer_id", "start_month", "earned", "earned_first", "earned_second", "earned_third", "redeemed")
