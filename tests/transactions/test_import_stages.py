"""The set-based import's own machinery (transactions.import_stages, transactions.import_sql): the database types
moments and trims fields exactly as the row-by-row parser does, and foreign keys checked in bulk are checked."""

import datetime as dt
import io
import zoneinfo

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import CustomerFactory
from transactions.import_sql import WHITESPACE, dialect
from transactions.import_stages import Stages
from transactions.importing import import_transactions, parse_moment
from transactions.models import Transaction

pytestmark = pytest.mark.django_db

HEADER = "customer_id,customer_name,transaction_id,amount,occurred_at,store,kind,refund_of\n"
needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own typing and roles")

# Moments around New York's daylight-saving changes (a skipped hour on 9 March 2025, a repeated one on 2 November),
# every form the database types itself, the forms it leaves to parse_moment, and dates that do not exist.
GOOD_MOMENTS = [
    *(f"2025-03-09T{hour:02d}:{minute:02d}:00" for hour in range(0, 5) for minute in (0, 30, 59)),
    *(f"2025-11-02T{hour:02d}:{minute:02d}:00" for hour in range(0, 4) for minute in (0, 30, 59)),
    "2025-03-08T23:59:59", "2025-03-10", "2025-11-01 12:00", "2025-11-02", "2025-11-03T00:00:00",
    "2024-02-29T12:00:00", "2025-01-31 23:30:00", "2025-01-31T23:30", "2025-06-15T08:00:00Z",
    "2025-06-15T08:00:00+05:30", "2025-06-15T08:00-03:00", "2025-06-15 08:00:00-00:00", "1899-12-31T23:59:59",
    "1997-03-04T10:00:00", "2025-06-15T08:00:00+14:00", "2025-06-15T08:00:00.250", "2025-06-15T08",
    "2025-06-15T08:00:00+15:30", "20250615T080000",
]  # fmt: skip
BAD_MOMENTS = ["2025-02-29", "2025-04-31T10:00:00", "2025-01-31T24:00:00", "2025-01-31T23:60:00", "0000-01-01",
               "2025-13-01", "31/01/2025", "soon", "2025-01-31T10:00:00+5:30"]  # fmt: skip


def test_the_database_types_moments_exactly_as_parse_moment(tmp_path, settings):
    settings.TIME_ZONE = "America/New_York"
    zone = zoneinfo.ZoneInfo("America/New_York")
    rows = "".join(f"C1,,R{index},10.00,{text},,,\n" for index, text in enumerate(GOOD_MOMENTS))
    path = tmp_path / "moments.csv"
    path.write_text(HEADER + rows, encoding="utf-8")

    result = import_transactions(path)

    assert result.ok, result.errors[:5]
    stored = dict(Transaction.objects.values_list("receipt_number", "occurred_at"))
    for index, text in enumerate(GOOD_MOMENTS):
        assert stored[f"R{index}"] == parse_moment(text, zone), text


def test_moments_that_are_not_dates_are_refused_by_line_as_parse_moment_refuses_them(tmp_path, settings):
    settings.TIME_ZONE = "America/New_York"
    rows = "".join(f"C1,,R{index},10.00,{text},,,\n" for index, text in enumerate(BAD_MOMENTS))
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + rows, encoding="utf-8")

    result = import_transactions(path)

    assert [(error.line, error.reason) for error in result.errors] == [
        (index + 2, f"occurred_at '{text}' is not a date (2025-01-31) or date-time (2025-01-31T23:30:00)")
        for index, text in enumerate(BAD_MOMENTS)
    ]


def test_fields_are_trimmed_of_what_str_strip_strips(tmp_path):
    assert set(WHITESPACE) == {chr(code) for code in range(0x110000) if chr(code).isspace()}
    path = tmp_path / "spaces.csv"
    path.write_text(HEADER + "\u00a0C1\u3000, Ann\t,\u2003R1 , 10.00\u2029,2025-01-31\x1c,,,\n", encoding="utf-8")

    assert import_transactions(path).ok
    bought = Transaction.objects.select_related("customer").get()
    assert (bought.customer.member_number, bought.customer.name, bought.receipt_number) == ("C1", "Ann", "R1")


def test_a_large_import_says_which_stage_it_is_in(tmp_path, monkeypatch):
    monkeypatch.setattr("transactions.importing.STAGE_PROGRESS_SECONDS", 0)
    path = tmp_path / "record.csv"
    path.write_text(HEADER + "".join(f"C1,,R{i},10.00,2025-01-{i + 1:02d},,,\n" for i in range(5)), encoding="utf-8")
    updates = []

    import_transactions(path, batch_size=2, progress=updates.append)

    assert [update.rows_read for update in updates if not update.stage] == [2, 4]
    assert [update.stage for update in updates if update.stage] == ["checking", "matching", "earning", "writing"]


def test_the_progress_line_names_the_stage():
    from transactions.importing import ImportProgress
    from transactions.management.commands.import_transactions import Command

    err = io.StringIO()
    Command(stdout=io.StringIO(), stderr=err).progress(
        ImportProgress(rows_read=50_000, bytes_read=1000, bytes_total=1000, elapsed=5.0, stage="earning")
    )

    assert "50,000 rows · 10,000 rows/s · earning" in err.getvalue()


@needs_postgres
def test_foreign_keys_are_checked_in_bulk_and_the_triggers_are_on_again_afterwards(tmp_path):
    path = tmp_path / "record.csv"
    path.write_text(HEADER + "C1,,R1,120.00,2025-01-31,,,\nC1,,F1,20.00,2025-02-01,,refund,R1\n", encoding="utf-8")
    assert import_transactions(path).ok
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone() == ("origin",)


@needs_postgres
def test_a_reference_that_does_not_resolve_is_refused(db):
    """What the triggers would refuse, the bulk check refuses: a written row naming a customer that is not there."""
    customer = CustomerFactory()
    stages = Stages(stamp=dt.datetime.now(dt.UTC), batch_size=10, keep=10, dialect=dialect())
    refused = pytest.raises(IntegrityError, match="refer to a row of customers_customer that no longer exists")
    with refused, transaction.atomic():
        assert stages.references_checked_in_bulk()
        with connection.cursor() as cursor:
            # As the bulk path writes: into its private copies of the tables, then copied in whole.
            cursor.execute("CREATE TEMP TABLE imp_txn_rows (LIKE transactions_transaction)")
            cursor.execute("CREATE TEMP TABLE imp_entry_rows (LIKE rewards_pointsentry)")
            cursor.execute(
                "INSERT INTO imp_txn_rows (id, customer_id, store_id, kind, amount, refunded_amount, "
                "occurred_at, receipt_number, source, recorded_at) SELECT 987654, %s, id, 'purchase', 1, 0, "
                "now(), 'X1', 'import', now() FROM transactions_store WHERE is_default",
                [customer.pk + 1000],
            )
            cursor.execute("INSERT INTO transactions_transaction SELECT * FROM imp_txn_rows")
            cursor.execute("CREATE TEMP TABLE imp_customer AS SELECT 0 AS customer_id")
        stages.verify_references()


@needs_postgres
def test_without_the_right_to_set_the_replication_role_the_triggers_check_every_row(db):
    stages = Stages(stamp=dt.datetime.now(dt.UTC), batch_size=10, keep=10, dialect=dialect())
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("CREATE ROLE h11b_plain_importer")
            cursor.execute("SET LOCAL ROLE h11b_plain_importer")
        assert stages.references_checked_in_bulk() is False
        with connection.cursor() as cursor:
            cursor.execute("SHOW session_replication_role")
            assert cursor.fetchone() == ("origin",)
        transaction.set_rollback(True)


@pytest.mark.parametrize("amount", ["", "12,50", "-5", "abc", "NaN", "1e3", "10.005", "99999999999", "1000000.01",
                                    "１２.00", " 1 000", "12.5", "0", "1000000.00"])  # fmt: skip
@pytest.mark.parametrize("member", ["", "C 1", "-C1", "C1", "x" * 33, "Ünï"])
def test_the_checks_in_sql_say_what_the_parser_says(tmp_path, amount, member):
    """Each field's check is written once for Python (the parser, the till's forms) and once in the import's SQL:
    the same patterns (import_sql derives them) and, proved here, the same words."""
    from transactions.importing import RowError, parse_member_number, parse_row_amount

    expected = []
    for parse, text in ((parse_member_number, member), (parse_row_amount, amount)):
        try:
            parse(text)
        except RowError as refusal:
            expected.append(str(refusal))
    path = tmp_path / "row.csv"
    path.write_text(HEADER + f'"{member}",,R1,"{amount}",2025-01-31,,,\n', encoding="utf-8")

    result = import_transactions(path, dry_run=True)

    assert [error.reason for error in result.errors] == (["; ".join(expected)] if expected else [])


def test_bytes_that_are_not_utf8_in_a_column_the_import_ignores_still_refuse_the_row(tmp_path):
    path = tmp_path / "record.csv"
    path.write_bytes(b"customer_id,transaction_id,amount,occurred_at,note\nC1,R1,10.00,2025-01-31,caf\xe9\n")

    result = import_transactions(path)

    assert [(error.line, error.reason) for error in result.errors] == [(2, "not UTF-8 text")]


@needs_postgres
def test_the_bulk_path_keeps_the_ledgers_once_only_claims(tmp_path):
    """The bulk path silences every trigger for its INSERTs, the partitioned ledger's claims trigger too: the
    import writes the claims itself, so a second earn for an imported purchase is still refused."""
    from rewards.models import PointsEntry
    from rewards.partitions import is_partitioned

    assert is_partitioned()
    path = tmp_path / "record.csv"
    path.write_text(HEADER + "C1,,R1,120.00,2025-01-31,,,\nC1,,F1,20.00,2025-02-01,,refund,R1\n", encoding="utf-8")
    assert import_transactions(path).ok
    entries = PointsEntry.objects.filter(kind__in=["earn", "reversal"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT entry_id, kind FROM rewards_ledgerclaim ORDER BY entry_id")
        assert cursor.fetchall() == sorted(entries.values_list("id", "kind"))
    earn = entries.get(kind="earn")
    duplicate = pytest.raises(IntegrityError, match="pointsentry_one_earn_per_purchase")
    with duplicate, transaction.atomic():
        PointsEntry.objects.create(
            customer=earn.customer, kind="earn", points=1, effective_at=earn.effective_at,
            transaction=earn.transaction, rule_version=earn.rule_version,
        )  # fmt: skip
