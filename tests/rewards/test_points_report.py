"""Tests of the points_report command (rewards.selectors.monthly_points underneath) on hand-checked records."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.factories import CustomerFactory, StoreFactory, at, purchase, refund
from transactions.importing import import_transactions

pytestmark = pytest.mark.django_db

HEADER = "customer_id,customer_name,transaction_id,amount,occurred_at,store,kind,refund_of\n"

# Hand-checked (classic rule: 1 point per whole dollar from 50 to 100, 2 per dollar over 100):
#   A1 Ann:  Jan 120.00 -> 90;  Feb 75.99 -> 25;  Mar refund 20.00 of the January purchase: 100.00 left
#            earns 50, so -40.  Total 75.
#   B2 Bob:  Jan 49.99 -> 0;  Feb 200.00 -> 250.  Total 250.
#   C3 Cy:   Mar 30.00 -> 0: bought, earned nothing, shows zeros.
#   D4 Di:   bought in December only: not in the report.
RECORD = HEADER + (
    "A1,Ann,R1,120.00,2025-01-05T10:00:00,,,\n"
    "B2,Bob,R2,49.99,2025-01-06T10:00:00,,,\n"
    "A1,Ann,R3,75.99,2025-02-07T10:00:00,,,\n"
    "B2,Bob,R4,200.00,2025-02-08T10:00:00,,,\n"
    "C3,Cy,R5,30.00,2025-03-09T10:00:00,,,\n"
    "A1,Ann,F1,20.00,2025-03-10T10:00:00,,refund,R1\n"
    "D4,Di,R6,500.00,2024-12-31T10:00:00,,,\n"
)
EXPECTED = [
    ["customer_id", "customer_name", "2025-01", "2025-02", "2025-03", "total"],
    ["A1", "Ann", "90", "25", "-40", "75"],
    ["B2", "Bob", "0", "250", "0", "250"],
    ["C3", "Cy", "0", "0", "0", "0"],
]


@pytest.fixture
def record(tmp_path):
    path = tmp_path / "record.csv"
    path.write_text(RECORD, encoding="utf-8")
    result = import_transactions(path)
    assert result.ok, result.errors
    return result


def report(*args) -> str:
    out = io.StringIO()
    call_command("points_report", *args, stdout=out)
    return out.getvalue()


def test_csv_report_matches_the_hand_checked_record(record):
    assert list(csv.reader(io.StringIO(report("--start", "2025-01")))) == EXPECTED


def test_json_report_has_rows_and_totals(record):
    data = json.loads(report("--start", "2025-01", "--format", "json"))

    assert data["months"] == ["2025-01", "2025-02", "2025-03"]
    assert data["rows"][0] == {
        "customer_id": "A1",
        "customer_name": "Ann",
        "2025-01": 90,
        "2025-02": 25,
        "2025-03": -40,
        "total": 75,
    }
    assert [row["customer_id"] for row in data["rows"]] == ["A1", "B2", "C3"]
    assert data["totals"] == {"2025-01": 90, "2025-02": 275, "2025-03": -40, "total": 325}


def test_table_report_is_aligned_with_a_totals_row(record):
    lines = report("--start", "2025-01", "--format", "table").splitlines()

    assert lines[0].split() == EXPECTED[0]
    assert lines[2].split() == ["A1", "Ann", "90", "25", "-40", "75"]
    assert lines[-1].split() == ["TOTAL", "90", "275", "-40", "325"]
    # Figures are right-aligned: every row ends in the same column.
    assert len({len(line) for line in lines if not line.startswith("-")}) == 1


def test_months_and_start_are_chosen(record):
    rows = list(csv.reader(io.StringIO(report("--start", "2025-02", "--months", "1"))))

    assert rows == [
        ["customer_id", "customer_name", "2025-02", "total"],
        ["A1", "Ann", "25", "25"],
        ["B2", "Bob", "250", "250"],
    ]


def test_output_goes_to_a_file(record, tmp_path):
    target = tmp_path / "out.csv"
    assert report("--start", "2025-01", "--output", str(target)) == ""

    assert list(csv.reader(target.open(encoding="utf-8"))) == EXPECTED


def test_store_filter_counts_only_that_stores_transactions(db):
    elm = StoreFactory(code="elm")
    ann = CustomerFactory(member_number="A1", name="Ann")
    bob = CustomerFactory(member_number="B2", name="Bob")
    purchase(ann, "120.00", when=at(2025, 1, 5), store=elm, receipt="E1")
    purchase(ann, "150.00", when=at(2025, 1, 6), receipt="M1")
    purchase(bob, "60.00", when=at(2025, 2, 6), receipt="M2")

    rows = list(csv.reader(io.StringIO(report("--start", "2025-01", "--store", "elm"))))

    assert rows[1:] == [["A1", "Ann", "90", "0", "0", "90"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2025-13"], "--start must be a month like 2025-01"),
        (["--start", "January"], "--start must be a month like 2025-01"),
        (["--start", "2025-01", "--months", "0"], "--months must be between 1 and"),
        (["--start", "2025-01", "--store", "nowhere"], "no store with code 'nowhere'"),
    ],
)
def test_bad_arguments_are_refused(db, args, message):
    with pytest.raises(CommandError, match=message):
        report(*args)


def test_the_report_runs_a_fixed_number_of_queries(record, django_assert_num_queries):
    # The rows in one query, the totals in another, whatever the number of customers; then the audit
    # trail's record of the export.
    with django_assert_num_queries(3):
        report("--start", "2025-01", "--format", "json")


# ---------------------------------------------------------------------------------------------------
# Months are calendar months in the merchant's TIME_ZONE.


def test_month_boundaries_in_new_york_including_daylight_saving_changes(settings, tmp_path):
    settings.TIME_ZONE = "America/New_York"
    # Each purchase of 60.00 earns 10, so the report shows which month each one fell in.
    text = HEADER + (
        # 23:30 on 31 January in New York is 04:30 on 1 February in UTC: January.
        "NY1,,J1,60.00,2025-01-31T23:30:00,,,\n"
        # 00:30 on 1 February in New York: February.
        "NY1,,F1,60.00,2025-02-01T00:30:00,,,\n"
        # After the spring change (9 March, EDT, UTC-4): 23:30 on 31 March is 03:30 on 1 April UTC: March.
        "NY2,,M1,60.00,2025-03-31T23:30:00,,,\n"
        # The same moment written in UTC is still March in New York.
        "NY2,,M2,60.00,2025-04-01T03:29:00+00:00,,,\n"
        # 1 April 00:00 local: April.
        "NY2,,A1,60.00,2025-04-01,,,\n"
        # Around the autumn change (2 November, back to EST): 23:30 on 31 October (EDT) is October,
        # 01:30 on 2 November (the repeated hour) and 23:59 on 30 November are November.
        "NY3,,O1,60.00,2025-10-31T23:30:00,,,\n"
        "NY3,,N1,60.00,2025-11-02T01:30:00,,,\n"
        "NY3,,N2,60.00,2025-11-30T23:59:00,,,\n"
        # 04:30 on 1 December in UTC is still 30 November (EST, UTC-5).
        "NY3,,N3,60.00,2025-12-01T04:30:00Z,,,\n"
    )
    path = tmp_path / "ny.csv"
    path.write_text(text, encoding="utf-8")
    assert import_transactions(path).ok

    spring = list(csv.reader(io.StringIO(report("--start", "2025-01", "--months", "4"))))
    assert spring == [
        ["customer_id", "customer_name", "2025-01", "2025-02", "2025-03", "2025-04", "total"],
        ["NY1", "NY1", "10", "10", "0", "0", "20"],
        ["NY2", "NY2", "0", "0", "20", "10", "30"],
    ]
    autumn = list(csv.reader(io.StringIO(report("--start", "2025-10", "--months", "3"))))
    assert autumn == [
        ["customer_id", "customer_name", "2025-10", "2025-11", "2025-12", "total"],
        ["NY3", "NY3", "10", "30", "0", "40"],
    ]
    # The same record in UTC puts the January and March evening purchases in the next month.
    settings.TIME_ZONE = "UTC"
    call_command("check_points_rollup", "--repair", stdout=io.StringIO(), stderr=io.StringIO())
    utc = list(csv.reader(io.StringIO(report("--start", "2025-01", "--months", "4"))))
    assert utc[1:] == [["NY1", "NY1", "0", "20", "0", "0", "20"], ["NY2", "NY2", "0", "0", "0", "30", "30"]]


def test_a_refund_counts_in_the_month_it_was_recorded(db):
    ann = CustomerFactory(member_number="A1", name="Ann")
    bought = purchase(ann, "150.00", when=at(2025, 1, 31, 20))
    refund(bought, "50.00", when=at(2025, 2, 1, 9))

    rows = list(csv.reader(io.StringIO(report("--start", "2025-01", "--months", "2"))))

    assert rows[1] == ["A1", "Ann", "150", "-100", "50"]


def test_csv_names_that_a_spreadsheet_would_run_are_written_inert(db):
    purchase(CustomerFactory(member_number="M1", name='=HYPERLINK("http://x")'), "120.00", when=at(2025, 1, 10))
    purchase(CustomerFactory(member_number="M2", name="-Dash Person"), "75.00", when=at(2025, 1, 11))
    rows = list(csv.reader(io.StringIO(report("--start", "2025-01", "--months", "1"))))
    assert rows[1] == ["M1", '\'=HYPERLINK("http://x")', "90", "90"]
    assert rows[2] == ["M2", "'-Dash Person", "25", "25"]
    # JSON is data, not a spreadsheet: it keeps the name as it is.
    data = json.loads(report("--start", "2025-01", "--months", "1", "--format", "json"))
    assert data["rows"][0]["customer_name"] == '=HYPERLINK("http://x")'


# ---------------------------------------------------------------------------------------------------
# --file: a record's points under the program's rules, written nowhere; --compare: against the books.


def record_file(tmp_path, text: str = RECORD):
    path = tmp_path / "till-export.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_files_points_are_reported_without_writing_anything(db, tmp_path):
    from customers.models import Customer
    from rewards.models import PointsEntry
    from transactions.models import Transaction

    rows = list(csv.reader(io.StringIO(report("--file", str(record_file(tmp_path)), "--start", "2025-01"))))

    assert rows == EXPECTED
    assert not Transaction.objects.exists() and not Customer.objects.exists() and not PointsEntry.objects.exists()


def test_a_files_months_are_its_own_unless_chosen(db, tmp_path):
    rows = list(csv.reader(io.StringIO(report("--file", str(record_file(tmp_path))))))
    # D4's December purchase makes the file start in December 2024: 500.00 earns 850.
    assert rows[0] == ["customer_id", "customer_name", "2024-12", "2025-01", "2025-02", "2025-03", "total"]
    assert rows[-1] == ["D4", "Di", "850", "0", "0", "0", "850"]


def test_a_file_already_imported_reports_the_same_points_and_compares_equal(record, tmp_path):
    path = record_file(tmp_path)
    assert list(csv.reader(io.StringIO(report("--file", str(path), "--start", "2025-01")))) == EXPECTED
    err = io.StringIO()
    call_command("points_report", "--file", str(path), "--compare", stdout=io.StringIO(), stderr=err)
    assert "equal the books' in every customer-month" in err.getvalue()


def test_compare_lists_where_the_file_and_the_books_differ(record, tmp_path):
    # The till's export has Bob's February purchase at 150.00 (the books: 200.00) and a purchase of Eve's that
    # the books never got; Cy's refund-free March is the same.
    changed = RECORD.replace("B2,Bob,R4,200.00", "B2,Bob,R4,150.00") + "E5,Eve,R7,60.00,2025-03-01T10:00:00,,,\n"
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 customer-months differ") as caught:
        call_command("points_report", "--file", str(record_file(tmp_path, changed)), "--compare", stdout=out)
    assert caught.value.returncode == 1
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["customer_id", "customer_name", "month", "file", "books", "difference"],
        ["B2", "Bob", "2025-02", "150", "250", "-100"],
        ["E5", "Eve", "2025-03", "10", "0", "10"],
    ]


def test_a_file_with_bad_rows_gives_no_report(db, tmp_path):
    err = io.StringIO()
    path = record_file(tmp_path, HEADER + "A1,,R1,12x,2025-01-05,,,\nB2,,R2,5.00,2025-01-06,,,\n")
    with pytest.raises(CommandError, match="1 bad row in 2 rows read: no report") as caught:
        call_command("points_report", "--file", str(path), stdout=io.StringIO(), stderr=err)
    assert caught.value.returncode == 1
    assert "line 2: Amount must be a number like 12.50, not '12x'" in err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--start is required"),
        (["--compare", "--start", "2025-01"], "--compare needs --file"),
        (["--file", "/no/such/file.csv"], "no such file"),
    ],
)
def test_bad_file_arguments_are_refused(db, args, message):
    with pytest.raises(CommandError, match=message):
        report(*args)
