"""The ledger partitioned by month on PostgreSQL (rewards.partitions, rewards.services.archive): the same
guarantees as the plain table, partitions made ahead and split out of DEFAULT, every main query served by an
index and pruned to its months, and a closed month detached with every other month's reports unchanged."""

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.services.access import issue_card_key
from rewards import partitions as ledger_partitions
from rewards.kinds import BirthdayBonus
from rewards.liability import liability_report
from rewards.local_time import current_month
from rewards.models import CarriedPoints, DetachedLedgerMonth, ExpiryPolicy, PointsEntry, Redemption, Tier
from rewards.partitions import (
    CLAIMS,
    DEFAULT,
    LEDGER,
    ensure_months,
    ensure_months_apart,
    is_partitioned,
    maintain,
    months_ahead,
    partitions,
)
from rewards.selectors import (
    customer_balance,
    customer_lapses,
    customer_ledger,
    customer_points_by_month,
    default_program,
    monthly_points,
    points_earned_in_window,
    points_outstanding,
    program_by_month,
    store_figures,
)
from rewards.services.archive import detach_month, detach_refusals
from rewards.services.bonuses import BonusRefused, award_bonus
from rewards.services.books import close_month
from rewards.services.expiry import expire_points
from rewards.services.ledger import rollup_differences
from rewards.services.liability import liability_differences, prove_liability
from rewards.services.redemption import redeem
from rewards.tasks import maintain_ledger_partitions_daily
from tests.factories import (
    CLASSIC,
    CustomerFactory,
    ManagerFactory,
    RewardFactory,
    StaffFactory,
    StoreFactory,
    at,
    default_store,
    publish,
    purchase,
    refund,
)
from tests.migration_rows import restore_migration_rows
from tests.pages import text_of
from transactions.importing import import_transactions
from transactions.models import Transaction
from transactions.selectors import customer_points
from transactions.services import record_refund

pytestmark = pytest.mark.django_db

JANUARY, FEBRUARY, MARCH = (dt.date(2025, month, 1) for month in (1, 2, 3))
postgres_only = pytest.mark.postgres_only


def partition_of(entry_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {LEDGER} WHERE id = %s", [entry_id])  # noqa: S608
        return cursor.fetchone()[0]


def test_sqlite_keeps_a_plain_table(settings):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's behaviour")
    assert not is_partitioned()
    assert maintain(JANUARY) == []
    with pytest.raises(CommandError, match="plain table"):
        call_command("detach_ledger_month", "2025-01")


@postgres_only
def test_the_ledger_is_partitioned_by_month_with_its_months_ahead_and_a_default():
    assert is_partitioned()
    names = {partition.name for partition in partitions()}
    assert DEFAULT in names
    assert {partition.month for partition in partitions()} >= set(months_ahead(current_month()))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary",
            [LEDGER],
        )
        assert cursor.fetchone()[0] == ["effective_at", "id"]


@postgres_only
def test_an_entry_lands_in_its_month_and_maintenance_splits_the_default_partition_without_changing_it():
    old = purchase(CustomerFactory(), "120.00", when=at(1997, 5, 6))
    assert partition_of(old.entry.pk) == DEFAULT

    made = maintain(dt.date(2026, 11, 1))

    assert dt.date(1997, 5, 1) in made
    assert partition_of(old.entry.pk) == "rewards_pointsentry_1997_05"
    moved = PointsEntry.objects.get(pk=old.entry.pk)
    assert (moved.points, moved.effective_at, moved.transaction_id) == (90, at(1997, 5, 6), old.transaction.pk)
    # The moved month is part of the ledger as any other: append-only, its once-only claims still held.
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        PointsEntry.objects.filter(pk=old.entry.pk).update(points=1)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {CLAIMS} WHERE entry_id = %s", [old.entry.pk])  # noqa: S608
        assert cursor.fetchone()[0] == 1


@postgres_only
def test_once_only_holds_across_months_not_only_within_one(refused_by):
    """The unique keys do not include the month: a second earn for a purchase, or a keyed bonus given again, is
    refused whatever month it is dated in (the claims table's indexes, under the constraints' names)."""
    ensure_months([JANUARY, FEBRUARY])
    recorded = purchase(CustomerFactory(), "120.00", when=at(2025, 1, 10))
    earn = recorded.entry
    with refused_by(PointsEntry, "pointsentry_one_earn_per_purchase"):
        PointsEntry.objects.create(
            customer_id=earn.customer_id,
            kind=PointsEntry.Kind.EARN,
            points=5,
            effective_at=at(2025, 2, 10),
            transaction_id=earn.transaction_id,
            rule_version_id=earn.rule_version_id,
        )
    bonus = {"customer_id": earn.customer_id, "kind": PointsEntry.Kind.BONUS, "points": 5, "reason": "Welcome"}
    PointsEntry.objects.create(**bonus, effective_at=at(2025, 1, 11), bonus_key="enrolment")
    with refused_by(PointsEntry, "pointsentry_bonus_once_per_key"):
        PointsEntry.objects.create(**bonus, effective_at=at(2025, 2, 11), bonus_key="enrolment")


@postgres_only
def test_a_copy_into_the_ledger_writes_its_claims_and_a_duplicate_in_it_is_refused(refused_by):
    """The importer writes by COPY: the claims are written at the end of the statement, set-based."""
    earn = purchase(CustomerFactory(), "120.00").entry
    columns = ["kind", "points", "effective_at", "created_at", "reason", "note", "facts", "customer_id"]
    columns += ["transaction_id", "rule_version_id", "bonus_key", "stamped"]
    row = ["earn", 5, earn.effective_at, earn.created_at, "", "", "{}", earn.customer_id]
    row += [earn.transaction_id, earn.rule_version_id, "", False]
    bonus = ["bonus", 5, earn.effective_at, earn.created_at, "Welcome", "", "{}", earn.customer_id]
    bonus += [None, None, "enrolment", False]

    def copy(*rows):  # psycopg's COPY, its errors as Django's (IntegrityError)
        with (
            connection.wrap_database_errors,
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {LEDGER} ({', '.join(columns)}) FROM STDIN") as c,
        ):
            for values in rows:
                c.write_row(values)

    copy(bonus)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT kind, bonus_key FROM {CLAIMS} WHERE customer_id = %s ORDER BY kind", [earn.customer_id])  # noqa: S608
        assert cursor.fetchall() == [("bonus", "enrolment"), ("earn", "")]
    with refused_by(PointsEntry, "pointsentry_one_earn_per_purchase"):
        copy(row)
    with refused_by(PointsEntry, "pointsentry_bonus_once_per_key"):
        copy(bonus)
    assert PointsEntry.objects.filter(customer_id=earn.customer_id).count() == 2


@postgres_only
def test_references_into_the_ledger_are_still_checked():
    """No foreign key can reference `id` alone on a partitioned table; a constraint trigger checks instead."""
    recorded = purchase(CustomerFactory(), "120.00")
    missing = recorded.entry.pk + 1000
    with pytest.raises(IntegrityError, match="rewards_pointsentry_corrects_id_in_ledger"), transaction.atomic():
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")
        PointsEntry.objects.create(
            customer_id=recorded.entry.customer_id,
            kind=PointsEntry.Kind.ADJUSTMENT,
            points=-5,
            effective_at=recorded.entry.effective_at,
            created_by=ManagerFactory(),
            reason="typo",
            corrects_id=missing,
        )
    reward = RewardFactory()
    with pytest.raises(IntegrityError, match="rewards_redemption_entry_id_in_ledger"), transaction.atomic():
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")
        Redemption.objects.create(
            customer_id=recorded.entry.customer_id,
            reward=reward,
            points=1,
            store=default_store(),
            redeemed_by=ManagerFactory(),
            entry_id=missing,
        )


# --- every query keeps its index ------------------------------------------------------------------


def scans_of(plan: dict) -> list[tuple[str, str]]:
    """(relation, node type) of every scan of a ledger partition in a JSON plan."""
    found = []
    if plan.get("Relation Name", "").startswith(LEDGER):
        found.append((plan["Relation Name"], plan["Node Type"]))
    for child in plan.get("Plans", []):
        found.extend(scans_of(child))
    return found


def ledger_scans(call) -> list[list[tuple[str, str]]]:
    """Run `call`, then EXPLAIN each of its queries that reads the ledger (sequential scans off, so that the
    plan shows which index serves it, as it would on a large table), and return their scans."""
    with CaptureQueriesContext(connection) as captured:
        call()
    plans = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in captured.captured_queries:
            if f'"{LEDGER}"' in query["sql"] and query["sql"].lstrip().upper().startswith("SELECT"):
                cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
                value = cursor.fetchone()[0]
                plans.append(scans_of((json.loads(value) if isinstance(value, str) else value)[0]["Plan"]))
    return plans


INDEXED = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


@postgres_only
def test_the_main_queries_use_an_index_on_every_partition_they_read_and_periods_read_only_their_months():
    ensure_months([JANUARY, FEBRUARY, MARCH])
    elm = StoreFactory(code="elm", name="Elm")
    ann, bob = CustomerFactory(), CustomerFactory()
    for month in (1, 2, 3):
        purchase(ann, "120.00", when=at(2025, month, 10), store=elm)
        purchase(bob, "60.00", when=at(2025, month, 12))

    balance = ledger_scans(lambda: customer_balance(ann.pk))
    statement = ledger_scans(lambda: list(customer_ledger(ann.pk)[:20]))
    by_store = ledger_scans(lambda: list(monthly_points(start=FEBRUARY, months=1, store_id=elm.pk).rows))
    figures = ledger_scans(lambda: store_figures(start=FEBRUARY, months=1))
    liability = ledger_scans(lambda: liability_report(start=JANUARY, months=3))

    for scans in [*balance, *statement]:  # a customer's whole history: every month, each by its index
        assert {"rewards_pointsentry_2025_01", "rewards_pointsentry_2025_03"} <= {name for name, _ in scans}
        assert {kind for _, kind in scans} <= INDEXED, scans
    for scans in [*by_store, *figures]:  # a period: only its month is read
        assert {name for name, _ in scans} == {"rewards_pointsentry_2025_02"}, scans
        assert {kind for _, kind in scans} <= INDEXED, scans
    assert by_store and figures
    assert liability == []  # the roll-forward reads its roll-up, never the ledger


# --- detaching a closed month -------------------------------------------------------------------


def closed_quarter():
    """January to March 2025 with partitions of their own. Carol's whole history is a purchase refunded in full
    in February; Ann buys in January and March; Bob in January. The books are closed through February."""
    ensure_months([JANUARY, FEBRUARY, MARCH])
    ann, bob, carol = CustomerFactory(), CustomerFactory(), CustomerFactory()
    purchase(ann, "120.00", when=at(2025, 1, 10))
    purchase(bob, "80.00", when=at(2025, 1, 20))
    carols = purchase(carol, "120.00", when=at(2025, 2, 3))
    refund(carols, "120.00", when=at(2025, 2, 4))
    purchase(ann, "150.00", when=at(2025, 3, 10))
    manager = ManagerFactory()
    close_month(month=JANUARY, closed_by=manager)
    close_month(month=FEBRUARY, closed_by=manager)
    return ann, bob, carol


def reports(*customers):
    monthly = monthly_points(start=JANUARY, months=3)
    return (
        list(monthly.rows),
        monthly.totals(),
        liability_report(start=JANUARY, months=3),
        [customer_balance(customer.pk) for customer in customers],
    )


@postgres_only
def test_a_closed_month_nothing_else_depends_on_is_detached_and_every_report_stays_as_it_was():
    ann, bob, carol = closed_quarter()
    before = reports(ann, bob, carol)
    assert before[3] == [90 + 150, 30, 0]

    detached = detach_month(FEBRUARY)

    assert (detached.table, detached.entries, detached.points) == ("rewards_pointsentry_2025_02", 2, 0)
    assert "rewards_pointsentry_2025_02" not in {partition.name for partition in partitions()}
    assert not PointsEntry.objects.filter(customer=carol).exists()
    assert DetachedLedgerMonth.objects.get().month == FEBRUARY
    assert reports(ann, bob, carol) == before  # February included: the roll-ups keep its sums
    assert rollup_differences() == [] and liability_differences() == []  # the checks leave February out


@postgres_only
def test_an_open_month_or_one_detached_before_is_refused_and_nothing_changes():
    ann, _bob, _carol = closed_quarter()
    assert "March 2025 is open" in " ".join(detach_refusals(MARCH))
    with pytest.raises(CommandError, match="March 2025 is open"):
        call_command("detach_ledger_month", "2025-03")
    with pytest.raises(CommandError, match="not a month"):
        call_command("detach_ledger_month", "2025-13")
    assert {"rewards_pointsentry_2025_01", "rewards_pointsentry_2025_03"} <= {p.name for p in partitions()}
    assert not DetachedLedgerMonth.objects.exists()
    assert customer_balance(ann.pk) == 240

    # January holds Ann's and Bob's points, which count in their balances: it detaches, and they still count.
    output = io.StringIO()
    call_command("detach_ledger_month", "2025-01", stdout=output)
    assert "rewards_pointsentry_2025_01: 2 entries (+120 points) detached" in output.getvalue()
    assert customer_balance(ann.pk) == 240
    with pytest.raises(CommandError, match="January 2025 was detached on"):
        call_command("detach_ledger_month", "2025-01")


# --- a busy month: members active before and after it, stamps, keyed bonuses, expiry, a redemption, refunds


DECEMBER, NOVEMBER, APRIL = dt.date(2024, 12, 1), dt.date(2024, 11, 1), dt.date(2025, 4, 1)


def busy_january():
    """November 2024 to April 2025, the books closed through January. A stamp card (every 3rd qualifying visit
    earns 40), points lapsing 1 month after the month earned, and a VIB tier at 150 points.

    Ann buys in November, December, twice in January (her 3rd visit: the stamp bonus), February and March; her
    November lot lapses on January 1 (an expiry entry of January, keyed); she gets her birthday bonus in January
    (keyed), redeems in January, and in February refunds part of her first January purchase (a reversal of
    February correcting a January earn). Bob buys in January only; Dan in December and January."""
    manager, staff = ManagerFactory(), StaffFactory()
    ensure_months([NOVEMBER, DECEMBER, JANUARY, FEBRUARY, MARCH, APRIL])
    publish(CLASSIC | {"stamp_card": {"every": 3, "bonus": 40}, "bonuses": {"birthday": 25}}, at(2024, 10, 1))
    program = default_program()
    ExpiryPolicy.objects.create(
        program=program, effective_month=dt.date(2024, 1, 1), kind="after_months", months=1, changed_by=manager
    )
    Tier.objects.create(program=program, name="Member", rank=0, threshold=0)
    Tier.objects.create(program=program, name="VIB", rank=1, threshold=150, multiplier=Decimal("1.00"))
    ann, bob, dan = CustomerFactory(), CustomerFactory(), CustomerFactory()
    purchase(ann, "120.00", when=at(2024, 11, 5))
    # Points of no store from the first month on (the closes' figures list the stores with points so far).
    award_bonus(customer=dan, action=BirthdayBonus.key, awarded_by=staff, moment=at(2024, 11, 8))
    purchase(dan, "60.00", when=at(2024, 12, 6))
    purchase(ann, "80.00", when=at(2024, 12, 7))
    assert expire_points(day=dt.date(2025, 1, 2)) >= 1  # Ann's November lot, dated January 1
    first = purchase(ann, "120.00", when=at(2025, 1, 10))
    purchase(ann, "60.00", when=at(2025, 1, 20))
    purchase(bob, "200.00", when=at(2025, 1, 21))
    purchase(dan, "40.00", when=at(2025, 1, 22))
    award_bonus(customer=ann, action=BirthdayBonus.key, awarded_by=staff, moment=at(2025, 1, 23))
    redeem(
        customer=ann, reward=RewardFactory(points_cost=50), store=default_store(), redeemed_by=staff,
        moment=at(2025, 1, 24),
    )  # fmt: skip
    for month in (NOVEMBER, DECEMBER, JANUARY):
        close_month(month=month, closed_by=manager)
    refund(first, "20.00", when=at(2025, 2, 3))
    purchase(ann, "50.00", when=at(2025, 2, 4))
    purchase(ann, "70.00", when=at(2025, 3, 5))
    return ann, bob, dan


def busy_figures(*customers):
    """Every figure of the members and the program that the ledger's history counts in."""
    return {
        "reports": reports(*customers),  # monthly report rows and totals, liability roll-forward, balances
        "till": [customer_points(customer.pk).balance for customer in customers],
        "by_month": [customer_points_by_month(customer.pk, start=NOVEMBER, months=6) for customer in customers],
        "program": program_by_month(start=NOVEMBER, months=6),
        "tiers": [points_earned_in_window(c.pk, day=dt.date(2025, 3, 15)) for c in customers],
        "lapses": [customer_lapses(customer.pk, until=dt.date(2025, 8, 1)) for customer in customers],
        "outstanding": points_outstanding(),
        "stamps": PointsEntry.objects.filter(kind="earn", stamped=True).count(),
        "proof": prove_liability().months,
    }


@postgres_only
def test_a_busy_month_detaches_and_every_members_figure_and_check_stays_as_it_was():
    ann, bob, dan = busy_january()
    before = busy_figures(ann, bob, dan)
    in_january = PointsEntry.objects.filter(effective_at__gte=at(2025, 1, 1, 0), effective_at__lt=at(2025, 2, 1, 0))
    january = set(in_january.values_list("pk", flat=True))
    assert prove_liability().ok
    kept = set(
        PointsEntry.objects.filter(pk__in=january)
        .filter(Q(bonus_key__gt="") | Q(corrections__isnull=False) | Q(kind="redemption"))
        .values_list("pk", flat=True)
    )
    # The stamp bonus, the birthday bonus, the expiries of Ann's and Dan's November lots, the redemption and the
    # refunded earn.
    assert len(kept) == 6

    detached = detach_month(JANUARY)

    assert (detached.entries, detached.kept) == (len(january), 6)
    assert {p.name for p in partitions() if p.month == JANUARY} == {"rewards_pointsentry_2025_01_kept"}
    assert set(PointsEntry.objects.filter(pk__in=january).values_list("pk", flat=True)) == kept
    assert CarriedPoints.objects.filter(month=JANUARY).count() == 3  # Ann, Bob, Dan
    after = busy_figures(ann, bob, dan)
    stamps_after = after.pop("stamps")
    assert stamps_after < before.pop("stamps")  # the stamped earns left the ledger: their count is carried
    assert after == before
    assert rollup_differences() == [] and liability_differences() == [] and prove_liability().ok
    call_command("check_points_rollup", stdout=io.StringIO())
    call_command("check_liability", stdout=io.StringIO())
    call_command("check_points_rollup", "--repair", stdout=io.StringIO())
    call_command("check_liability", "--repair", stdout=io.StringIO())
    assert busy_figures(ann, bob, dan) | {"stamps": stamps_after} == after | {"stamps": stamps_after}

    # What counts one by one still does: the stamp card goes on counting, the birthday bonus and
    # November's expiry are not given twice, and the month's new partition refuses rewriting as any other.
    assert expire_points(day=dt.date(2025, 1, 2)) == 0
    with pytest.raises(BonusRefused):
        award_bonus(customer=ann, action=BirthdayBonus.key, awarded_by=StaffFactory(), moment=at(2025, 3, 6))
    for day in (7, 8, 9):  # Ann's 7th, 8th and 9th qualifying visits (the 3rd and 6th earned the bonus)
        purchase(ann, "30.00", when=at(2025, 3, day))
    assert PointsEntry.objects.filter(customer=ann, bonus_key="stamp:9").exists()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        PointsEntry.objects.filter(pk=min(kept)).update(points=1)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_busy_month_is_archived_whole_and_the_archive_restores_every_original_entry(tmp_path):
    restore_migration_rows()  # a transactional test may follow one that emptied the database
    ann, bob, dan = busy_january()
    in_january = PointsEntry.objects.filter(effective_at__gte=at(2025, 1, 1, 0), effective_at__lt=at(2025, 2, 1, 0))
    originals = list(in_january.order_by("id").values_list("id", "customer_id", "kind", "points"))
    balances = [customer_balance(customer.pk) for customer in (ann, bob, dan)]
    settings = connection.settings_dict
    libpq = {"PGHOST": settings["HOST"] or "", "PGPORT": str(settings["PORT"] or ""), "PGUSER": settings["USER"] or ""}
    try:
        output = io.StringIO()
        call_command("detach_ledger_month", "2025-01", "--archive", str(tmp_path), stdout=output)

        assert "6 entries that something refers to" in output.getvalue()
        assert "(rewards_pointsentry_2025_01_kept)" in output.getvalue()
        assert [customer_balance(customer.pk) for customer in (ann, bob, dan)] == balances
        assert in_january.count() == 6
        # The README's way to look at an archived month again: pg_restore it, as a plain table.
        subprocess.run(
            [shutil.which("pg_restore"), "--no-owner", "--dbname", settings["NAME"],
             str(tmp_path / "rewards_pointsentry_2025_01.dump")],
            check=True, capture_output=True, env={**os.environ, **{k: v for k, v in libpq.items() if v}},
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, customer_id, kind, points FROM rewards_pointsentry_2025_01 ORDER BY id")
            assert cursor.fetchall() == originals  # every original row, the kept ones too
    finally:
        # Partitions outlive a transactional test: leave January without them, as the other tests expect it.
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS rewards_pointsentry_2025_01, rewards_pointsentry_2025_01_kept")


@postgres_only
def test_a_refund_of_a_purchase_whose_points_were_archived_is_refused_saying_why_and_nothing_is_written(
    staff_client, manager_client, tmp_path
):
    ann, _bob, _dan = busy_january()
    second = Transaction.objects.get(customer=ann, occurred_at=at(2025, 1, 20))
    detach_month(JANUARY)
    counts = (Transaction.objects.count(), PointsEntry.objects.count(), customer_balance(ann.pk))

    with pytest.raises(ValidationError, match="archived with January 2025"):
        record_refund(purchase=second, amount=Decimal("10.00"), occurred_at=at(2025, 3, 9))
    # At the till, "Refund all" (which asks first) and a partial refund: the reason beside the form, never a 500.
    for extra in ({"full": "1"}, {"amount": "10.00"}):
        answer = staff_client.post(
            f"/transactions/{second.pk}/refund/", {"idempotency_key": str(uuid.uuid4()), "amount": "", **extra}
        )
        assert answer.status_code == 200
        assert "archived with January 2025" in answer.content.decode()
    # In the admin, beside the purchase refunded.
    answer = manager_client.post(
        "/admin/transactions/transaction/add/",
        {"kind": "refund", "refund_of": second.pk, "store": second.store_id, "amount": "10.00",
         "occurred_at_0": "2025-03-09", "occurred_at_1": "10:00:00"},
    )  # fmt: skip
    assert answer.status_code == 200 and "archived with January 2025" in answer.content.decode()
    # In an imported record, the same words on the refund's line.
    record = tmp_path / "refunds.csv"
    record.write_text(
        "customer_id,transaction_id,amount,occurred_at,kind,refund_of\n"
        f"{ann.member_number},R-9,10.00,2025-03-09,refund,{second.receipt_number}\n"
    )
    imported = import_transactions(record)
    assert not imported.ok
    assert "the points this purchase earned were archived with January 2025" in str(imported.errors[0])

    assert (Transaction.objects.count(), PointsEntry.objects.count(), customer_balance(ann.pk)) == counts
    second.refresh_from_db()
    assert second.refunded_amount == Decimal("0.00")
    # The purchase refunded in February keeps its earn entry in the ledger: it can be refunded further.
    first = Transaction.objects.get(customer=ann, occurred_at=at(2025, 1, 10))
    assert record_refund(purchase=first, amount=Decimal("10.00"), occurred_at=at(2025, 3, 9)).entry.points < 0


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_detached_month_is_archived_with_pg_dump_and_dropped(tmp_path):
    restore_migration_rows()  # a transactional test may follow one that emptied the database
    ann, _bob, _carol = closed_quarter()

    call_command("detach_ledger_month", "2025-02", "--archive", str(tmp_path))

    archive = tmp_path / "rewards_pointsentry_2025_02.dump"
    assert archive.stat().st_mode & 0o777 == 0o600  # members' points: readable by its owner only, as a backup
    listing = subprocess.run(
        [shutil.which("pg_restore"), "--list", str(archive)], capture_output=True, text=True, check=True
    )
    assert "TABLE DATA public rewards_pointsentry_2025_02" in listing.stdout
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('rewards_pointsentry_2025_02')")
        assert cursor.fetchone()[0] is None
    assert DetachedLedgerMonth.objects.get().archive == str(archive)
    assert customer_balance(ann.pk) == 240


@postgres_only
def test_the_daily_job_and_the_command_make_months_ahead_and_split_what_reached_the_default_partition():
    old = purchase(CustomerFactory(), "120.00", when=at(1997, 5, 6))

    made = maintain_ledger_partitions_daily.call_local()

    assert "1997-05" in made
    assert partition_of(old.entry.pk) == "rewards_pointsentry_1997_05"
    assert {p.month for p in partitions() if p.month} >= set(months_ahead(current_month()))

    output = io.StringIO()
    call_command("ledger_partitions", "--from", "1996-11", "--to", "1997-01", stdout=output)
    assert "made 1996-11" in output.getvalue() and "made 1997-01" in output.getvalue()
    assert " 1996-12  rewards_pointsentry_1996_12" in output.getvalue()
    with pytest.raises(CommandError, match="not a month"):
        call_command("ledger_partitions", "--from", "1997-1")
    with pytest.raises(CommandError, match="before --from"):
        call_command("ledger_partitions", "--from", "1997-03", "--to", "1997-01")


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_months_made_apart_wait_for_the_ledger_a_short_time_only_and_then_leave_rows_to_default(monkeypatch):
    """The import makes its months on a connection of its own while its transaction holds no lock on the ledger;
    were it to hold one, the other connection would wait for it for ever: it gives up instead, nothing made."""
    monkeypatch.setattr(ledger_partitions, "MONTHS_LOCK_TIMEOUT", "200ms")
    month = dt.date(1991, 1, 1)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {LEDGER} IN ACCESS SHARE MODE")  # what any read of the ledger holds
            assert ensure_months_apart([month]) == []
        assert month not in {p.month for p in partitions()}

        assert ensure_months_apart([month]) == [month]  # committed by the other connection: seen here
        assert month in {p.month for p in partitions()}
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS rewards_pointsentry_1991_01")


def test_the_partition_command_on_sqlite_says_there_is_nothing_to_do():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's behaviour")
    output = io.StringIO()
    call_command("ledger_partitions", "--from", "1997-01", stdout=output)
    assert "plain table" in output.getvalue()
    assert maintain_ledger_partitions_daily.call_local() == []


# --- the lines of a detached month where a member's ledger lines are listed ---------------------------------


def carried_title(customer) -> str:
    carried = CarriedPoints.objects.get(customer=customer, month=JANUARY)
    return f"January 2025 — archived: {carried.points:,} points carried"


def queries_of(client, path: str) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(captured), response


@postgres_only
def test_the_statement_lists_the_archived_month_and_its_lines_add_up_to_the_balance(manager_client):
    ann, _bob, _dan = busy_january()
    path = reverse("reports:statement", args=[ann.pk])
    manager_client.get(path)  # the session's first request
    queries_before, before = queries_of(manager_client, path)
    assert 'id="carried"' not in before.content.decode()
    balance = customer_balance(ann.pk)

    detach_month(JANUARY)

    queries_after, response = queries_of(manager_client, path)
    assert queries_after == queries_before  # the carried lines come with the balance's query
    assert carried_title(ann) in text_of(response)
    parts = response.context["parts"]
    assert [line.month for line in parts.carried] == [JANUARY]
    shown = response.context["ledger"].page.object_list  # every line of Ann's ledger fits on the first page
    assert len(shown) == PointsEntry.objects.filter(customer=ann).count()
    assert parts.ledger == sum(row.record.points for row in shown)
    assert parts.ledger + parts.carried[0].points == response.context["balance"] == balance
    assert f"{balance:,} points" in text_of(response)


@postgres_only
def test_the_members_card_and_data_download_list_the_archived_month_in_date_order(client):
    ann, _bob, _dan = busy_january()
    client.get(f"/card/open/{issue_card_key(ann)}/")
    queries_before, _page = queries_of(client, "/card/")
    balance = customer_balance(ann.pk)

    detach_month(JANUARY)

    queries_after, card = queries_of(client, "/card/")
    assert queries_after == queries_before
    activity = card.context["activity"]
    assert carried_title(ann) in [line.title for line in activity]
    assert [line.when for line in activity] == sorted((line.when for line in activity), reverse=True)
    assert card.context["balance"] == balance

    download = json.loads(client.get("/card/my-data.json").content)
    ledger = download["points_ledger"]
    assert sum(line["points"] for line in ledger) == download["points"]["balance"] == balance
    archived = [index for index, line in enumerate(ledger) if line["kind"] == "archived"]
    assert [ledger[index]["what"] for index in archived] == [carried_title(ann)]
    whens = [dt.datetime.fromisoformat(line["when"]) for line in ledger]
    assert whens == sorted(whens)  # in date order with the entries, dated at the month's first moment
    assert whens[archived[0]] == at(2025, 1, 1, 0)


@postgres_only
def test_a_purchase_whose_points_left_with_its_month_says_they_were_archived(staff_client):
    ann, _bob, _dan = busy_january()
    left = Transaction.objects.get(customer=ann, occurred_at=at(2025, 1, 20))
    kept = Transaction.objects.get(customer=ann, occurred_at=at(2025, 1, 10))  # its refund refers to its earn
    kept_points = PointsEntry.objects.get(transaction=kept, kind="earn").points
    staff_client.get(f"/transactions/{left.pk}/")  # the session's first request
    queries_before, _page = queries_of(staff_client, f"/transactions/{left.pk}/")

    detach_month(JANUARY)

    queries_after, page = queries_of(staff_client, f"/transactions/{left.pk}/")
    assert queries_after == queries_before
    assert "Archived with January 2025" in text_of(page) and "carried in the customer's balance" in text_of(page)
    assert f"{customer_balance(ann.pk):,} points" in text_of(page)
    _queries, other = queries_of(staff_client, f"/transactions/{kept.pk}/")
    assert "Archived with" not in text_of(other)
    assert other.context["txn"].points == kept_points
    # A purchase of a month still in the ledger is as before.
    march = Transaction.objects.get(customer=ann, occurred_at=at(2025, 3, 5))
    assert staff_client.get(f"/transactions/{march.pk}/").context["txn"].archived_month is None
