"""`manage.py liability_report` and `manage.py check_liability` on the small book (tests/rewards/books.py)."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from rewards.models import StoreMonthPoints
from tests.rewards.books import small_book

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(new_york):
    return small_book()


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_csv_gives_the_program_with_breakage_then_each_store(book):
    rows = list(csv.DictReader(io.StringIO(run("liability_report", "--start", "2025-01", "--months", "3",
                                                 "--format", "csv"))))  # fmt: skip
    program = [row for row in rows if row["scope"] == "All stores"]
    assert [row["month"] for row in program] == ["2025-01", "2025-02", "2025-03"]
    feb = program[1]
    assert (feb["opening_points"], feb["closing_points"], feb["closing_money"]) == ("130", "210", "4.2000")
    assert (feb["issued_with_sales_points"], feb["reversed_by_refunds_points"], feb["redeemed_points"]) == (
        "150",
        "-50",
        "-20",
    )
    assert feb["revaluation_money"] == "0.8000" and feb["point_value_at_close"] == "0.0200"
    assert (feb["revenue_from_redemptions"], program[2]["revenue_from_breakage"]) == ("0.38", "2.11")
    assert program[0]["breakage_rate_source"] == "no evidence"
    stores = {(row["scope"], row["month"]): row for row in rows if row["scope"] != "All stores"}
    assert stores[("Elm Street", "2025-03")]["closing_points"] == "-40"
    assert stores[("No store", "2025-03")]["expired_points"] == "-110"
    assert stores[("Main store", "2025-03")]["revenue_from_breakage"] == ""  # breakage is the program's
    event = AuditEvent.objects.get(event="export")
    assert event.detail["command"] == "liability_report" and event.detail["format"] == "csv"


def test_json_and_table(book):
    document = json.loads(run("liability_report", "--start", "2025-02", "--months", "1", "--format", "json"))
    [feb] = document["total"]
    assert feb["closing"] == {"points": 210, "money": "4.2000"}
    assert {line["kind"]: line["points"] for line in feb["lines"]}["redemption"] == -20
    assert document["breakage"][0]["revenue_from_redemptions"] == "0.38"
    assert [store["store"] for store in document["stores"]] == ["Elm Street", "Main store", "No store"]
    table = run("liability_report", "--start", "2025-01", "--months", "3")
    assert table.startswith("All stores\n")
    closing = next(line for line in table.splitlines() if line.startswith("Closing balance"))
    assert closing.split() == ["Closing", "balance", "130", "1.30", "210", "4.20", "110", "2.20"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--start", "2025-13"], "must be a month"), (["--start", "2025-01", "--months", "0"], "between 1 and 120")],
)
def test_bad_arguments_are_explained(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("liability_report", *args)


def test_check_liability_proves_the_small_book(book):
    out = run("check_liability")
    assert "2025-02  closing             210 points = members' balances             210" in out
    assert out.strip().endswith("closing balance equals the sum of all members' balances at the month's end.")


def test_check_liability_fails_loudly_and_repairs(book):
    row = StoreMonthPoints.objects.get(month="2025-02-01", kind="redemption")
    StoreMonthPoints.objects.filter(pk=row.pk).update(points=-25)
    err = io.StringIO()
    with pytest.raises(CommandError, match="does NOT agree with the ledger") as failed:
        call_command("check_liability", stdout=io.StringIO(), stderr=err)
    assert failed.value.returncode == 1
    assert "roll-up differs from the ledger: 2025-02" in err.getvalue()
    assert "ledger -20 points in 1 entries, roll-up -25 points in 1 entries" in err.getvalue()
    assert "DIFFERS" in err.getvalue()  # February's closing is 205 by the roll-up, 210 by the balances
    out = run("check_liability", "--repair")
    assert "rebuilt from the ledger" in out and "Proved" in out
    assert StoreMonthPoints.objects.get(month="2025-02-01", kind="redemption").points == -20
    assert Decimal(StoreMonthPoints.objects.filter(kind="expiry").get().points) == -110
