"""Tests of transactions/importing.py and the import_transactions command: exact, all or nothing."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from customers.models import Customer
from rewards.models import CustomerMonthPoints, PointsEntry, Program, RuleVersion
from rewards.partitions import DEFAULT, maintain, partitions
from rewards.services.ledger import rollup_differences
from tests.factories import CustomerFactory, StoreFactory, at, default_store, purchase, refund
from tests.migration_rows import restore_migration_rows
from transactions.importing import CopyWriter, OrmWriter, import_transactions
from transactions.models import Transaction

pytestmark = pytest.mark.django_db

HEADER = "customer_id,customer_name,transaction_id,amount,occurred_at,store,kind,refund_of\n"


def counts() -> tuple[int, int, int, int]:
    return (
        Transaction.objects.count(),
        PointsEntry.objects.count(),
        Customer.objects.count(),
        CustomerMonthPoints.objects.count(),
    )


def write(tmp_path, text: str | bytes, name: str = "record.csv"):
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def run(path, *args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_transactions", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path, *args) -> tuple[CommandError, str]:
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_transactions", str(path), *args, stdout=io.StringIO(), stderr=err)
    return caught.value, err.getvalue()


GOOD = HEADER + (
    "C1,Ann Lee,R1,120.00,2025-01-15T10:00:00,,,\n"
    "C2,Bob Ray,R2,60.50,2025-01-20,,,\n"
    "C1,Ann Lee,R3,30.00,2025-02-03T09:00:00,,,\n"
)


# ---------------------------------------------------------------------------------------------------
# A good file.


def test_a_good_file_writes_purchases_enrols_customers_and_earns(tmp_path):
    out, _err = run(write(tmp_path, GOOD))

    assert "purchases written:" in out and "customers enrolled:" in out
    assert Transaction.objects.filter(source=Transaction.Source.IMPORT).count() == 3
    ann = Customer.objects.get(member_number="C1")
    assert ann.name == "Ann Lee"
    assert Customer.objects.get(member_number="C2").name == "Bob Ray"
    # 120.00 earns 90 (50 x 1 + 20 x 2), 60.50 earns 10, 30.00 earns nothing but is recorded.
    earned = dict(PointsEntry.objects.values_list("transaction__receipt_number", "points"))
    assert earned == {"R1": 90, "R2": 10, "R3": 0}
    assert rollup_differences() == []


def test_the_summary_counts_what_was_written(tmp_path):
    result = import_transactions(write(tmp_path, GOOD))

    assert result.ok and result.written
    assert (result.rows_read, result.purchases_written, result.refunds_written) == (3, 3, 0)
    assert (result.duplicates_skipped, result.customers_enrolled, result.points_awarded) == (0, 2, 100)


def test_an_imported_purchase_earns_exactly_what_the_till_gives(tmp_path):
    # A second rule version from 1 March: the import must pick the version in force at each moment.
    program = Program.objects.get(is_default=True)
    RuleVersion.objects.create(
        program=program,
        effective_from=at(2025, 3, 1, 0, 0),
        rule={"bands": [{"threshold": 20, "rate": "1.5"}]},
        note="Spring",
    )
    till_customer = CustomerFactory(member_number="TILL1")
    cases = [("120.99", at(2025, 2, 10)), ("45.55", at(2025, 3, 10)), ("0.00", at(2025, 3, 11))]
    rows = "".join(f"IMP1,Imp,IR{i},{amount},{when.isoformat()},,,\n" for i, (amount, when) in enumerate(cases))
    import_transactions(write(tmp_path, HEADER + rows))

    for index, (amount, when) in enumerate(cases):
        till = purchase(till_customer, amount, when=when, receipt=f"TR{index}").entry
        imported = PointsEntry.objects.get(transaction__receipt_number=f"IR{index}")
        assert (imported.points, imported.rule_version_id, imported.explanation, imported.detail) == (
            till.points,
            till.rule_version_id,
            till.explanation,
            till.detail,
        )
        assert imported.effective_at == till.effective_at
    assert PointsEntry.objects.get(transaction__receipt_number="IR1").rule_version.note == "Spring"


def test_columns_are_found_by_name_in_any_order_and_a_bom_is_allowed(tmp_path):
    text = "\ufeffoccurred_at,amount,TRANSACTION_ID, customer_id \n2025-01-15T10:00:00,75.00,R9,C9\n"
    result = import_transactions(write(tmp_path, text))

    assert result.ok, result.errors
    bought = Transaction.objects.get(receipt_number="R9")
    assert bought.amount == Decimal("75.00")
    assert bought.customer.member_number == "C9"
    # No name in the file: the member number stands in for it.
    assert bought.customer.name == "C9"
    assert bought.store == default_store()


def test_a_date_is_local_midnight_and_an_offset_is_honoured(tmp_path, settings):
    settings.TIME_ZONE = "America/New_York"
    text = HEADER + "C1,,R1,10.00,2025-01-31,,,\nC1,,R2,10.00,2025-01-31T23:30:00+00:00,,,\n"
    import_transactions(write(tmp_path, text))

    assert Transaction.objects.get(receipt_number="R1").occurred_at == dt.datetime(2025, 1, 31, 5, 0, tzinfo=dt.UTC)
    assert Transaction.objects.get(receipt_number="R2").occurred_at == dt.datetime(2025, 1, 31, 23, 30, tzinfo=dt.UTC)


def test_a_store_code_picks_the_store(tmp_path):
    elm = StoreFactory(code="elm-street")
    import_transactions(write(tmp_path, HEADER + "C1,,R1,10.00,2025-01-31,elm-street,,\n"))

    assert Transaction.objects.get(receipt_number="R1").store == elm


def test_an_existing_customers_name_is_kept_and_a_different_one_warned_about(tmp_path):
    CustomerFactory(member_number="C1", name="Ann Lee")
    out, err = run(write(tmp_path, HEADER + "C1,Annie L,R1,10.00,2025-01-31,,,\nC1,Annie L,R2,10.00,2025-02-01,,,\n"))

    assert Customer.objects.get(member_number="C1").name == "Ann Lee"
    # Once per customer, naming the line.
    assert err.count("warning: line 2: customer C1 is enrolled as 'Ann Lee'; the name 'Annie L' was not used") == 1
    assert "warnings:" in out


# ---------------------------------------------------------------------------------------------------
# Bad files: every bad row listed as `line N: reason`, then a count; exit status 1; nothing written.

BAD_CASES = {
    "customer_id missing": (HEADER + ",Ann,R1,10.00,2025-01-31,,,\n", 2, "customer_id is missing"),
    "transaction_id missing": (HEADER + "C1,Ann,,10.00,2025-01-31,,,\n", 2, "transaction_id is missing"),
    "amount missing": (HEADER + "C1,Ann,R1,,2025-01-31,,,\n", 2, "Amount is missing"),
    "occurred_at missing": (HEADER + "C1,Ann,R1,10.00,,,,\n", 2, "occurred_at is missing"),
    "column missing": ("customer_id,transaction_id,occurred_at\nC1,R1,2025-01-31\n", 1, "missing: amount"),
    "column twice": (
        "customer_id,transaction_id,amount,amount,occurred_at\nC1,R1,1,1,2025-01-31\n",
        1,
        "named more than once: amount",
    ),
    "comma decimal": (HEADER + 'C1,Ann,R1,"12,50",2025-01-31,,,\n', 2, "not '12,50'"),
    "negative": (HEADER + "C1,Ann,R1,-5,2025-01-31,,,\n", 2, "not '-5'"),
    "letters": (HEADER + "C1,Ann,R1,abc,2025-01-31,,,\n", 2, "not 'abc'"),
    "NaN": (HEADER + "C1,Ann,R1,NaN,2025-01-31,,,\n", 2, "not 'NaN'"),
    "exponent": (HEADER + "C1,Ann,R1,1e3,2025-01-31,,,\n", 2, "not '1e3'"),
    "three places": (HEADER + "C1,Ann,R1,10.005,2025-01-31,,,\n", 2, "not '10.005'"),
    "absurdly large": (HEADER + "C1,Ann,R1,99999999999.00,2025-01-31,,,\n", 2, "not '99999999999.00'"),
    "over the largest amount": (HEADER + "C1,Ann,R1,1000000.01,2025-01-31,,,\n", 2, "larger than the largest"),
    "impossible date": (HEADER + "C1,Ann,R1,10.00,2025-02-30,,,\n", 2, "occurred_at '2025-02-30' is not a date"),
    "impossible time": (HEADER + "C1,Ann,R1,10.00,2025-01-31T25:00:00,,,\n", 2, "is not a date"),
    "not a date": (HEADER + "C1,Ann,R1,10.00,31/01/2025,,,\n", 2, "is not a date"),
    "too few fields": (HEADER + "C1,Ann,R1,10.00\n", 2, "expected 8 fields as in the header, found 4"),
    "too many fields": (HEADER + "C1,Ann,R1,10.00,2025-01-31,,,,x\n", 2, "found 9"),
    "unknown store": (HEADER + "C1,Ann,R1,10.00,2025-01-31,nowhere,,\n", 2, "store 'nowhere' is not a known"),
    "unknown kind": (HEADER + "C1,Ann,R1,10.00,2025-01-31,,return,\n", 2, "kind 'return' is neither"),
    "refund_of on a purchase": (HEADER + "C1,Ann,R1,10.00,2025-01-31,,,R0\n", 2, "refund_of is only for rows"),
    "refund without refund_of": (HEADER + "C1,Ann,R1,10.00,2025-01-31,,refund,\n", 2, "refund_of is missing"),
    "bad member number": (HEADER + "C 1,Ann,R1,10.00,2025-01-31,,,\n", 2, "is not a member number"),
    "empty file": (b"", 1, "the file is empty"),
    "only blank lines": (b"\n\n", 1, "the file is empty"),
    "not UTF-8 text": (HEADER.encode() + "C1,José,R1,10.00,2025-01-31,,,\n".encode("latin-1"), 2, "not UTF-8 text"),
    "a binary file": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 1, "not UTF-8 text"),
    "same receipt twice with different data": (
        HEADER + "C1,Ann,R1,10.00,2025-01-31,,,\nC1,Ann,R1,11.00,2025-01-31,,,\n",
        3,
        "transaction R1 at store main is also on line 2, with amount 10.00",
    ),
    "refund of an unknown purchase": (
        HEADER + "C1,Ann,F1,5.00,2025-01-31,,refund,R404\n",
        2,
        "refund_of R404: no such purchase",
    ),
    "refund before its purchase in the file": (
        HEADER + "C1,Ann,F1,5.00,2025-01-31,,refund,R1\nC1,Ann,R1,10.00,2025-01-30,,,\n",
        2,
        "refund_of R1: no such purchase",
    ),
    "refund larger than the purchase": (
        HEADER + "C1,Ann,R1,10.00,2025-01-30,,,\nC1,Ann,F1,10.01,2025-01-31,,refund,R1\n",
        3,
        "refund of 10.01 exceeds what is left of purchase R1 (10.00)",
    ),
    "refunds together larger than the purchase": (
        HEADER + "C1,,R1,10.00,2025-01-30,,,\nC1,,F1,6.00,2025-01-31,,refund,R1\nC1,,F2,4.01,2025-02-01,,refund,R1\n",
        4,
        "exceeds what is left of purchase R1 (4.00)",
    ),
    "refund of 0.00": (
        HEADER + "C1,Ann,R1,10.00,2025-01-30,,,\nC1,Ann,F1,0.00,2025-01-31,,refund,R1\n",
        3,
        "a refund must be more than 0.00",
    ),
    "refund by another customer": (
        HEADER + "C1,Ann,R1,10.00,2025-01-30,,,\nC2,Bob,F1,5.00,2025-01-31,,refund,R1\n",
        3,
        "refund_of R1 is a purchase of customer C1, not C2",
    ),
    "refund before the purchase's moment": (
        HEADER + "C1,Ann,R1,10.00,2025-01-30T12:00:00,,,\nC1,Ann,F1,5.00,2025-01-30T11:00:00,,refund,R1\n",
        3,
        "a refund cannot happen before its purchase",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES), ids=list(BAD_CASES))
def test_a_bad_row_fails_the_import_and_writes_nothing(tmp_path, case):
    text, line, reason = BAD_CASES[case]
    CustomerFactory(member_number="C0")  # something already stored, to show it is untouched
    before = counts()

    error, err = run_failing(write(tmp_path, text))

    assert error.returncode == 1
    assert f"line {line}: " in err and reason in err, err
    assert "nothing was written" in str(error)
    assert "1 bad row " in str(error)
    assert counts() == before


def test_every_bad_row_is_listed_with_a_count(tmp_path):
    text = HEADER + "C1,,R1,10.00,2025-01-31,,,\nC1,,R2,abc,2025-01-31,,,\nC1,,R3,1.00,2025-13-01,,,\nC1,,R4,1.00\n"
    error, err = run_failing(write(tmp_path, text))

    lines = err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 3", "line 4", "line 5"]
    assert str(error).startswith("3 bad rows in 4 rows read")


def test_all_problems_of_one_row_are_named(tmp_path):
    _error, err = run_failing(write(tmp_path, HEADER + ",,R1,abc,yesterday,,,\n"))

    assert "customer_id is missing" in err and "not 'abc'" in err and "'yesterday' is not a date" in err


def test_a_bad_row_after_batches_were_written_still_writes_nothing(tmp_path):
    good = "".join(f"C{i % 3},,R{i},{i}.00,2025-01-{i % 28 + 1:02d},,,\n" for i in range(1, 40))
    before = counts()

    result = import_transactions(write(tmp_path, HEADER + good + "C1,,R99,1.234,2025-01-31,,,\n"), batch_size=5)

    assert not result.ok
    assert [str(e) for e in result.errors] == ["line 41: Amount must be a number like 12.50, not '1.234'"]
    # The report still says what the good rows would have given.
    assert result.purchases_written == 39
    assert counts() == before


def test_a_receipt_repeated_in_a_later_batch_with_different_data_is_a_bad_row(tmp_path):
    text = HEADER + "C1,,R1,10.00,2025-01-31,,,\nC1,,R2,10.00,2025-01-31,,,\nC1,,R1,10.00,2025-02-01,,,\n"
    before = counts()

    result = import_transactions(write(tmp_path, text), batch_size=2)

    assert [str(e) for e in result.errors] == [
        "line 4: transaction R1 at store main is also earlier in the file, with occurred_at 2025-01-31T00:00:00+00:00"
    ]
    assert counts() == before


def test_a_receipt_stored_with_different_data_is_a_bad_row(tmp_path):
    customer = CustomerFactory(member_number="C1")
    purchase(customer, "10.00", when=at(2025, 1, 31), receipt="R1")
    before = counts()

    _error, err = run_failing(write(tmp_path, HEADER + "C1,,R1,10.00,2025-01-30,,,\n"))

    assert "line 2: transaction R1 at store main is already stored, with occurred_at 2025-01-31T12:00:00+00:00" in err
    assert counts() == before


def test_the_same_receipt_at_another_store_is_another_transaction(tmp_path):
    StoreFactory(code="elm")
    text = HEADER + "C1,,R1,10.00,2025-01-31,,,\nC1,,R1,10.00,2025-01-31,elm,,\n"
    result = import_transactions(write(tmp_path, text))

    assert result.ok and result.purchases_written == 2


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_transactions", str(tmp_path / "nope.csv"))


# ---------------------------------------------------------------------------------------------------
# Re-imports, refunds, dry runs.


def test_reimporting_a_file_writes_nothing_new(tmp_path):
    path = write(tmp_path, GOOD + "C1,Ann Lee,F1,20.00,2025-02-10,,refund,R1\n")
    import_transactions(path)
    before = counts()
    balance = list(PointsEntry.objects.values_list("pk", "points"))

    out, _err = run(path)

    assert counts() == before
    assert list(PointsEntry.objects.values_list("pk", "points")) == balance
    assert "duplicates skipped:            4" in out
    assert "purchases written:             0" in out
    assert Transaction.objects.get(receipt_number="R1").refunded_amount == Decimal("20.00")


def test_an_overlapping_file_writes_only_the_new_rows(tmp_path):
    import_transactions(write(tmp_path, GOOD, "first.csv"))
    overlap = HEADER + "C2,Bob Ray,R2,60.50,2025-01-20,,,\nC3,Cy,R4,100.00,2025-02-20,,,\n"

    result = import_transactions(write(tmp_path, overlap, "second.csv"))

    assert (result.duplicates_skipped, result.purchases_written, result.customers_enrolled) == (1, 1, 1)
    assert Transaction.objects.count() == 4
    assert rollup_differences() == []


def test_a_receipt_repeated_identically_in_the_file_is_skipped(tmp_path):
    result = import_transactions(write(tmp_path, HEADER + "C1,,R1,70.00,2025-01-31,,,\nC1,,R1,70.00,2025-01-31,,,\n"))

    assert (result.purchases_written, result.duplicates_skipped) == (1, 1)
    assert PointsEntry.objects.get().points == 20


def test_a_reimport_across_a_daylight_saving_change_writes_nothing_new(tmp_path, settings):
    # 02:30 on 9 March does not exist in New York and 01:30 on 2 November happens twice: each is read
    # the same way every time, so the second import finds the same moments stored.
    settings.TIME_ZONE = "America/New_York"
    path = write(tmp_path, HEADER + "C1,,R1,70.00,2025-03-09T02:30:00,,,\nC1,,R2,70.00,2025-11-02T01:30:00,,,\n")
    import_transactions(path)

    again = import_transactions(path)

    assert again.ok and again.duplicates_skipped == 2
    assert Transaction.objects.count() == 2


@pytest.mark.parametrize("batch_size", [1, 100])
def test_refunds_in_the_file_reverse_like_the_till(tmp_path, batch_size):
    # A purchase of 150.00 earns 150; refunds of 30.00 then 40.00 leave 80.00, which earns 30.
    text = HEADER + (
        "C1,,R1,150.00,2025-01-10,,,\nC1,,F1,30.00,2025-01-20,,refund,R1\nC1,,F2,40.00,2025-02-05,,refund,R1\n"
    )
    result = import_transactions(write(tmp_path, text), batch_size=batch_size)

    assert result.ok, result.errors
    assert (result.purchases_written, result.refunds_written, result.points_awarded) == (1, 2, 30)
    bought = Transaction.objects.get(receipt_number="R1")
    assert bought.refunded_amount == Decimal("70.00")
    earned = PointsEntry.objects.get(transaction=bought)
    reversals = PointsEntry.objects.filter(kind=PointsEntry.Kind.REVERSAL).order_by("effective_at")
    assert [(r.transaction.receipt_number, r.points, r.corrects_id) for r in reversals] == [
        ("F1", -60, earned.pk),
        ("F2", -60, earned.pk),
    ]
    assert all(r.transaction.refund_of_id == bought.pk for r in reversals)

    # The till, given the same purchase and refunds, writes the same points and explanations.
    other = CustomerFactory(member_number="TILL")
    till = purchase(other, "150.00", when=at(2025, 1, 10, 0, 0), receipt="T1")
    first = refund(till, "30.00", when=at(2025, 1, 20, 0, 0), receipt_number="TF1").entry
    second = refund(till, "40.00", when=at(2025, 2, 5, 0, 0), receipt_number="TF2").entry
    assert [(e.points, e.detail) for e in (first, second)] == [(r.points, r.detail) for r in reversals]
    assert [e.explanation.replace("T1", "R1") for e in (first, second)] == [r.explanation for r in reversals]
    assert rollup_differences() == []


def test_a_refund_of_a_stored_purchase(tmp_path):
    customer = CustomerFactory(member_number="C1")
    stored = purchase(customer, "120.00", when=at(2025, 1, 10), receipt="R1")
    refund(stored, "10.00", when=at(2025, 1, 11), receipt_number="F0")

    result = import_transactions(write(tmp_path, HEADER + "C1,,F1,15.00,2025-01-12T12:00:00,,refund,R1\n"))

    assert result.ok and result.refunds_written == 1
    stored.transaction.refresh_from_db()
    assert stored.transaction.refunded_amount == Decimal("25.00")
    # 110.00 left earned 70; 95.00 left earns 45.
    assert PointsEntry.objects.get(transaction__receipt_number="F1").points == -25
    assert rollup_differences() == []


def test_a_refund_cannot_exceed_what_the_till_left(tmp_path):
    customer = CustomerFactory(member_number="C1")
    stored = purchase(customer, "20.00", when=at(2025, 1, 10), receipt="R1")
    refund(stored, "15.00", when=at(2025, 1, 11), receipt_number="F0")
    before = counts()

    _error, err = run_failing(write(tmp_path, HEADER + "C1,,F1,5.01,2025-01-12,,refund,R1\n"))

    assert "line 2: refund of 5.01 exceeds what is left of purchase R1 (5.00)" in err
    assert counts() == before


def test_a_dry_run_reports_and_writes_nothing(tmp_path):
    before = counts()

    out, _err = run(write(tmp_path, GOOD + "C1,Ann Lee,F1,20.00,2025-02-10,,refund,R1\n"), "--dry-run")

    assert counts() == before
    assert out.startswith("Dry run: nothing was written.")
    assert "purchases written:             3" in out
    assert "refunds written:               1" in out
    assert "customers enrolled:            2" in out
    # 90 + 10 + 0 earned; the refund of 20.00 from 120.00 takes back 40.
    assert "points awarded:               60" in out


def test_a_dry_run_of_a_bad_file_fails_like_the_real_import(tmp_path):
    error, err = run_failing(write(tmp_path, HEADER + "C1,,R1,abc,2025-01-31,,,\n"), "--dry-run")

    assert error.returncode == 1 and "line 2:" in err


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copy_and_the_orm_write_the_same_rows(tmp_path):
    text = GOOD + "C1,Ann Lee,F1,20.00,2025-02-10,,refund,R1\n"
    fields = ["receipt_number", "amount", "refunded_amount", "occurred_at", "kind", "source", "customer__member_number"]
    # What is stored (note, facts), and what is rendered from it (explanation, detail), are the same both ways.
    entry_fields = ["transaction__receipt_number", "kind", "points", "effective_at", "note", "facts"]
    snapshots = []
    for writer in (CopyWriter(), OrmWriter()):
        # Each writer's import is rolled back after its snapshot: the ledger's rows cannot be deleted
        # (a trigger refuses it on PostgreSQL), so the second import starts from the same empty tables.
        with transaction.atomic():
            result = import_transactions(write(tmp_path, text), writer=writer)
            assert result.ok
            snapshots.append(
                (
                    list(Transaction.objects.order_by("receipt_number").values_list(*fields)),
                    list(PointsEntry.objects.order_by("transaction__receipt_number").values_list(*entry_fields)),
                    [
                        (entry.explanation, entry.detail)
                        for entry in PointsEntry.objects.select_related("transaction", "rule_version").order_by(
                            "transaction__receipt_number"
                        )
                    ],
                    list(CustomerMonthPoints.objects.order_by("customer__member_number", "month").values_list(
                        "customer__member_number", "month", "earned", "reversed", "entries"
                    )),
                )
            )  # fmt: skip
            assert rollup_differences() == []
            transaction.set_rollback(True)
        assert not Customer.objects.exists()
    assert snapshots[0] == snapshots[1]


def test_progress_is_reported_per_batch(tmp_path):
    rows = "".join(f"C1,,R{i},10.00,2025-01-{i % 28 + 1:02d},,,\n" for i in range(10))
    updates = []

    import_transactions(write(tmp_path, HEADER + rows), batch_size=4, progress=updates.append)

    assert [update.rows_read for update in updates] == [4, 8]
    assert all(update.bytes_total == len((HEADER + rows).encode()) for update in updates)
    assert updates[-1].bytes_read > 0


def test_the_progress_line_shows_rows_per_second_and_time_left():
    from transactions.importing import ImportProgress
    from transactions.management.commands.import_transactions import Command

    err = io.StringIO()
    command = Command(stdout=io.StringIO(), stderr=err)
    command.progress(ImportProgress(rows_read=50_000, bytes_read=250, bytes_total=1000, elapsed=5.0))

    assert "50,000 rows · 10,000 rows/s · 25% · about 15 s left" in err.getvalue()


def test_an_imported_purchase_earns_the_till_s_promotions_and_its_refund_reverses_them(tmp_path):
    """Promotions look at the purchase's local day and store: the importer gives the engine both, as the
    till does, and keeps them on the earn entry so a refund in the file reverses under the promotion."""
    elm = StoreFactory(code="elm-street", name="Elm Street")
    RuleVersion.objects.create(
        program=Program.objects.get(is_default=True),
        effective_from=at(2025, 2, 1, 0, 0),
        rule={
            "bands": [{"threshold": 50, "rate": "1"}, {"threshold": 100, "rate": "2"}],
            "promotions": [
                {"name": "Tuesday promotion", "multiplier": "2", "starts": "2025-03-01", "ends": "2025-03-31",
                 "weekdays": [1], "stores": ["elm-street"]}
            ],
            "stamp_card": {"every": 10, "bonus": 100, "minimum_amount": "5.00"},
        },
    )  # fmt: skip
    tuesday, wednesday = at(2025, 3, 4, 23, 30), at(2025, 3, 5, 10, 0)
    rows = (
        f"IMP1,Imp,IR0,120.00,{tuesday.isoformat()},elm-street,,\n"  # Tuesday at Elm Street: doubled
        f"IMP1,Imp,IR1,120.00,{wednesday.isoformat()},elm-street,,\n"  # Wednesday: not
        f"IMP1,Imp,IR2,120.00,{tuesday.isoformat()},,,\n"  # Tuesday at the main store: not
        f"IMP1,Imp,IR3,30.00,{wednesday.isoformat()},elm-street,refund,IR0\n"
    )
    result = import_transactions(write(tmp_path, HEADER + rows))
    assert result.ok, result.errors

    till_customer = CustomerFactory(member_number="TILL1")
    for receipt, when, store in [("IR0", tuesday, elm), ("IR1", wednesday, elm), ("IR2", tuesday, default_store())]:
        till = purchase(till_customer, "120.00", when=when, store=store, receipt=f"T-{receipt}").entry
        imported = PointsEntry.objects.get(transaction__receipt_number=receipt, kind="earn")
        assert (imported.points, imported.explanation, imported.detail, imported.stamped) == (
            till.points,
            till.explanation,
            till.detail,
            till.stamped,
        )
    assert PointsEntry.objects.get(transaction__receipt_number="IR0", kind="earn").points == 180
    # 90.00 left earns 40, doubled by the purchase's promotion: 80 kept of 180.
    assert PointsEntry.objects.get(transaction__receipt_number="IR3", kind="reversal").points == -100
    # A later file refunds the stored purchase again: 80.00 left earns 30, doubled: 20 more back.
    later = HEADER + f"IMP1,Imp,IR4,10.00,{wednesday.isoformat()},elm-street,refund,IR0\n"
    assert import_transactions(write(tmp_path, later, name="later.csv")).ok
    assert PointsEntry.objects.get(transaction__receipt_number="IR4", kind="reversal").points == -20
    assert rollup_differences() == []


# --- what the recording service refuses, the import refuses by line ------------------------------------


def test_a_row_in_the_future_is_refused_by_its_line(tmp_path):
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    before = counts()
    _error, err = run_failing(write(tmp_path, GOOD + f"C3,Cy,R4,10.00,{later.isoformat()},,,\n"))
    assert f"line 5: occurred_at {later.isoformat()}: a purchase cannot be in the future" in err
    assert counts() == before


@pytest.mark.parametrize("amount", ["１２.00", "١٢", "12.5０"])
def test_an_amount_in_another_scripts_digits_is_refused_by_its_line(tmp_path, amount):
    _error, err = run_failing(write(tmp_path, HEADER + f"C1,Ann,R1,{amount},2025-01-31,,,\n"))
    assert "line 2: Amount must be a number like 12.50" in err
    assert not Transaction.objects.exists()


def test_a_record_from_1997_imports_and_earns_the_classic_rule(tmp_path):
    text = HEADER + "C1,Ann,R1,120.00,1997-03-04T10:00:00,,,\nC1,Ann,R2,20.00,1997-04-02,,refund,R1\n"
    result = import_transactions(write(tmp_path, text))
    assert result.ok, result.errors
    assert (result.points_earned, result.points_reversed) == (90, -40)
    months = CustomerMonthPoints.objects.order_by("month").values_list("month", "earned", "reversed")
    assert list(months) == [(dt.date(1997, 3, 1), 90, 0), (dt.date(1997, 4, 1), 0, -40)]
    assert rollup_differences() == []


def test_customers_it_enrols_get_the_programs_enrolment_bonus(tmp_path):
    RuleVersion.objects.create(
        program=Program.objects.get(is_default=True),
        effective_from=at(2020, 1, 1),
        rule={"bands": [{"threshold": 50, "rate": "1"}, {"threshold": 100, "rate": "2"}], "bonuses": {"enrolment": 25}},
    )
    CustomerFactory(member_number="C1")  # already a member: no bonus
    out, _err = run(write(tmp_path, GOOD))
    bonuses = PointsEntry.objects.filter(kind=PointsEntry.Kind.BONUS)
    assert [(entry.customer.member_number, entry.points, entry.bonus_key) for entry in bonuses] == [
        ("C2", 25, "enrolment")
    ]
    assert "points awarded:              125  (100 earned, 0 reversed by refunds, 25 enrolment bonuses)" in out
    assert rollup_differences() == []


# ---------------------------------------------------------------------------------------------------
# The partitioned ledger (PostgreSQL): an import makes the months its rows need before it writes.

OLD_RECORD = HEADER + (
    "P1,Pat Old,O1,120.00,1993-03-15T10:00:00,,,\n"
    "P1,Pat Old,O2,40.00,1993-04-02,,,\n"
    "P2,Sam Old,O3,200.00,1993-04-30T23:30:00,,,\n"
    "P1,Pat Old,O4,60.00,1993-05-01T09:00:00,,refund,O1\n"
)


def ledger_partition_counts() -> dict[str, int]:
    """Rows per partition of the ledger (the merchant's month a partition holds is in its name)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text, count(*) FROM rewards_pointsentry GROUP BY 1")
        return dict(cursor.fetchall())


@pytest.fixture
def months_of_1992_and_1993(transactional_db):
    """A transactional test's partitions outlive it (the flush empties tables, it does not drop them): drop
    the old months it made, so other tests find those months without partitions, as a fresh database has."""
    yield
    with connection.cursor() as cursor:
        for partition in partitions():
            if partition.month and partition.month.year in (1992, 1993):
                cursor.execute(f"DROP TABLE {partition.name}")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_import_of_old_rows_makes_their_months_first_and_nothing_lands_in_default(tmp_path, months_of_1992_and_1993):
    restore_migration_rows()  # a transactional test may follow one that emptied the database
    assert not {p.month for p in partitions()} & {dt.date(1993, month, 1) for month in (3, 4, 5)}

    result = import_transactions(write(tmp_path, OLD_RECORD))

    assert result.written and (result.purchases_written, result.refunds_written) == (3, 1)
    found = ledger_partition_counts()
    assert DEFAULT not in found  # DEFAULT is empty: nothing for the daily job to split under the exclusive lock
    assert {name: found[name] for name in found if "_1993_" in name} == {
        "rewards_pointsentry_1993_03": 1,  # O1's earn
        "rewards_pointsentry_1993_04": 2,  # O2's and O3's (23:30 local on the 30th: April in TIME_ZONE)
        "rewards_pointsentry_1993_05": 1,  # O4's reversal of O1, dated at the refund
    }
    assert rollup_differences() == []


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_refused_or_dry_run_import_writes_nothing_and_a_refused_one_may_leave_an_empty_month(
    tmp_path, months_of_1992_and_1993
):
    restore_migration_rows()
    before = counts()

    dry = import_transactions(write(tmp_path, HEADER + "P1,Pat Old,O1,120.00,1992-06-15,,,\n"), dry_run=True)
    assert dry.ok and not dry.written
    assert dt.date(1992, 6, 1) not in {p.month for p in partitions()}  # a dry run changes nothing, DDL included

    refused = import_transactions(
        write(tmp_path, HEADER + "P1,Pat Old,O1,120.00,1992-07-15,,,\nP2,Sam Old,O2,twelve,1992-08-15,,,\n")
    )
    assert not refused.ok and refused.error_count == 1
    assert counts() == before  # all or nothing for the data
    # The good row's month was made before the bad row was found (harmless: an empty partition, as the
    # months made ahead are); the bad row's month was not.
    months = {p.month for p in partitions()}
    assert dt.date(1992, 7, 1) in months and dt.date(1992, 8, 1) not in months
    assert "rewards_pointsentry_1992_07" not in ledger_partition_counts()


@pytest.mark.postgres_only
def test_an_import_inside_a_callers_transaction_leaves_old_months_to_the_daily_job(tmp_path):
    result = import_transactions(write(tmp_path, OLD_RECORD))

    assert result.written
    # The caller's transaction (the test's) might hold the ledger: no months are made apart from it.
    assert ledger_partition_counts()[DEFAULT] == 4
    assert dt.date(1993, 3, 1) in maintain(dt.date(2026, 11, 1))
    assert DEFAULT not in ledger_partition_counts()
