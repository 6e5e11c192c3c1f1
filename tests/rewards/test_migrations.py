"""The data migrations of this app run both ways on real rows."""

import datetime as dt
import importlib
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection

from loyalty_site.append_only import create_sql, drop_sql
from rewards.calendar import EARLIEST_MOMENT
from rewards.models import CustomerTier, PointsEntry, PointValue, Reward, RuleVersion, StoreMonthPoints, Tier
from rewards.selectors import default_program
from rewards.services.liability import liability_differences
from rewards.services.redemption import redeem, undo_redemption
from tests.factories import CustomerFactory, ManagerFactory, StoreFactory, at, purchase, refund

pytestmark = pytest.mark.django_db

facts_migration = importlib.import_module("rewards.migrations.0010_ledger_keeps_facts_and_renders_earn_explanations")
earliest_migration = importlib.import_module("rewards.migrations.0012_default_program_in_force_since_1900")


class Editor:
    """What the migrations' functions use of a schema editor, inside the test's transaction."""

    connection = connection

    def quote_name(self, name: str) -> str:
        return connection.ops.quote_name(name)

    def execute(self, sql: str, params=()) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


@contextmanager
def ledger_rows_writable():
    """As when migrating: rewards 0010 runs before 0013 puts the ledger's append-only trigger on PostgreSQL
    (the DDL is undone with the test's transaction anyway)."""
    for statement in drop_sql("rewards_pointsentry") if connection.vendor == "postgresql" else []:
        Editor().execute(statement, None)
    yield
    for statement in create_sql("rewards_pointsentry") if connection.vendor == "postgresql" else []:
        Editor().execute(statement, None)


def test_earn_entries_keep_their_facts_and_their_explanations_come_back_when_migrated_backwards():
    StoreFactory(code="elm-street", name="Elm Street")
    RuleVersion.objects.create(
        program=default_program(),
        effective_from=at(2025, 3, 1),
        rule={
            "bands": [{"threshold": 50, "rate": "1"}, {"threshold": 100, "rate": "2"}],
            "promotions": [{"name": "Double", "multiplier": "2", "starts": "2025-03-01", "ends": "2025-03-31"}],
        },
    )
    customer = CustomerFactory()
    gold = Tier.objects.create(program=default_program(), name="Gold", rank=1, threshold=0, multiplier=Decimal("1.5"))
    CustomerTier.objects.create(customer=customer, tier=gold, since=at(2025, 1, 1))
    recorded = purchase(customer, "120.00", when=at(2025, 3, 4), store=StoreFactory(code="elm-street"))
    entry = PointsEntry.objects.select_related("transaction", "rule_version").get(pk=recorded.entry.pk)
    explanation, detail, facts = entry.explanation, entry.detail, entry.facts
    assert explanation == "120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90; Double ×2 → 180; tier ×1.5 → 270"
    assert facts == {"context": {"on": "2025-03-04", "store": "elm-street"}, "tier_multiplier": "1.50"}

    with ledger_rows_writable():
        facts_migration.render_explanations(apps, Editor())  # backwards: as the ledger stored them before
        assert PointsEntry.objects.values_list("note", "facts").get(pk=entry.pk) == (explanation, detail)
        facts_migration.keep_only_facts(apps, Editor())  # forwards: only what history needs
        assert PointsEntry.objects.values_list("note", "facts").get(pk=entry.pk) == ("", facts)


def test_the_first_version_moves_back_to_1900_and_forward_again():
    first = RuleVersion.objects.filter(program=default_program()).order_by("effective_from")
    first.update(effective_from=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))  # as an installation before 1900 was chosen
    earliest_migration.move_back(apps, Editor())
    assert first.first().effective_from == EARLIEST_MOMENT
    earliest_migration.move_forward(apps, Editor())
    assert first.first().effective_from == dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


liability_migration = importlib.import_module(
    "rewards.migrations.0015_point_value_history_liability_rollup_month_close_breakage"
)


def test_the_liability_roll_up_is_built_from_an_existing_ledger_as_the_services_keep_it():
    """rewards 0015 builds the liability roll-up of a ledger written before it, grouped as the services group
    every entry since: the proof finds no difference."""
    manager = ManagerFactory()
    harbour = StoreFactory(code="harbour", name="Harbour")
    customer = CustomerFactory()
    refund(purchase(customer, "120.00", when=at(2025, 1, 10)), "30.00", when=at(2025, 1, 12), store=harbour)
    PointValue.objects.create(program=default_program(), effective_from=at(2025, 1, 15), value=Decimal("0.02"))
    reward = Reward.objects.create(program=default_program(), name="Tea", points_cost=10, benefit="free_item")
    undo_redemption(
        redemption=redeem(customer=customer, reward=reward, store=harbour, redeemed_by=manager, moment=at(2025, 1, 20)),
        undone_by=manager,
        moment=at(2025, 2, 2),
    )
    rows = StoreMonthPoints.objects.values_list("month", "store_key", "kind", "point_value_id", "points")
    kept = sorted(rows)
    StoreMonthPoints.objects.all().delete()
    liability_migration.build_liability_rollup(apps, Editor())
    assert liability_differences() == []
    assert sorted(rows.all()) == kept
    assert (dt.date(2025, 2, 1), harbour.pk, "redemption", PointValue.objects.latest("effective_from").pk, 10) in kept


partition_migration = importlib.import_module("rewards.migrations.0017_ledger_partitioned_by_month_on_postgresql")


def ledger_shape() -> dict:
    """What the ledger's table is: its kind, its primary key, its unique indexes and where they live, what refers
    to it, and its rows."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'rewards_pointsentry'::regclass")
        (kind,) = cursor.fetchone()
        cursor.execute(
            "SELECT indexname, tablename FROM pg_indexes WHERE indexname LIKE 'pointsentry_%%' ORDER BY indexname"
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE confrelid = 'rewards_pointsentry'::regclass ORDER BY 1, 2"
        )
        references = cursor.fetchall()
    rows = sorted(PointsEntry.objects.values_list("id", "kind", "points", "effective_at", "corrects_id"))
    return {"kind": kind, "indexes": indexes, "references": references, "rows": rows}


@pytest.mark.postgres_only
def test_the_ledger_with_its_rows_becomes_plain_again_and_partitioned_again():
    """rewards 0017 both ways on a ledger with purchases, a refund and an undone redemption: the rows stay, the
    unique indexes move between the ledger and the claims table, the foreign keys into the ledger come back."""
    manager = ManagerFactory()
    customer = CustomerFactory()
    refund(purchase(customer, "120.00", when=at(2025, 1, 10)), "30.00", when=at(2025, 2, 12))
    reward = Reward.objects.create(program=default_program(), name="Tea", points_cost=10, benefit="free_item")
    undo_redemption(
        redemption=redeem(customer=customer, reward=reward, store=StoreFactory(), redeemed_by=manager),
        undone_by=manager,
    )
    Editor().execute("SET CONSTRAINTS ALL IMMEDIATE")  # checked now, as a migration finds them after a commit
    partitioned = ledger_shape()
    assert partitioned["kind"] == "p" and partitioned["references"] == []
    assert ("pointsentry_one_earn_per_purchase", "rewards_ledgerclaim") in partitioned["indexes"]

    partition_migration.plain_ledger_again(apps, Editor())
    plain = ledger_shape()
    assert plain["kind"] == "r" and plain["rows"] == partitioned["rows"]
    assert ("pointsentry_one_earn_per_purchase", "rewards_pointsentry") in plain["indexes"]
    assert [table for table, _ in plain["references"]] == [
        "rewards_adjustmentrequest",
        "rewards_pointsentry",
        "rewards_redemption",
        "rewards_redemption",
    ]

    Editor().execute("SET CONSTRAINTS ALL IMMEDIATE")
    partition_migration.partition_the_ledger(apps, Editor())
    assert ledger_shape() == partitioned
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM rewards_ledgerclaim")
        assert cursor.fetchone()[0] == PointsEntry.objects.filter(kind__in=["earn", "reversal"]).count() == 2
