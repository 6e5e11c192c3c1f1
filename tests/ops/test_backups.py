"""Backups: a dump of a database with data restores into a new database, which then proves itself (the checks
restore_database runs: the roll-up equals the ledger, ...) and holds as many rows in every table."""

import re
import shutil
import subprocess
from contextlib import contextmanager
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from huey import PostgresHuey

from audit.models import AuditEvent
from events.models import Event
from ops.backups import CHECKS_AFTER_RESTORE, check_restored, tables
from rewards.models import PointsEntry
from rewards.services.adjustments import request_adjustment
from rewards.services.redemption import redeem
from tests.factories import CustomerFactory, OwnerFactory, RewardFactory, at, default_store, purchase, refund
from tests.migration_rows import restore_migration_rows

from .conftest import database_url, manage


def server_connection(database: str = "postgres") -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=database,
        autocommit=True,
    )


@contextmanager
def new_database(suffix: str):
    name = f"{connection.settings_dict['NAME']}_{suffix}"
    with server_connection() as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with server_connection() as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def row_counts(database: str) -> dict[str, int]:
    with server_connection(database) as db:
        names = [row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        count = 'SELECT count(*) FROM "{}"'  # names from pg_tables
        return {name: db.execute(count.format(name)).fetchone()[0] for name in sorted(names)}


@pytest.fixture
def queue_with_a_job():
    """The task queue's tables in the test database (production keeps them beside the data) with one job."""
    queue = PostgresHuey("backup-test", dsn=database_url().replace("postgres://", "postgresql://", 1))
    queue.storage.enqueue(b"a job waiting at the time of the backup")
    yield queue
    queue.storage.close()
    with connection.cursor() as cursor:
        for table in ("huey_task", "huey_schedule", "huey_kv", "huey_counter"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.mark.postgres_only
def test_a_backup_restores_into_a_new_database_that_proves_itself(transactional_db, tmp_path, queue_with_a_job):
    restore_migration_rows()  # a transactional test may follow one that emptied the database
    owner = OwnerFactory()
    for number in range(6):
        customer = CustomerFactory()
        first = purchase(customer, "120.00", when=at(2025, 1, 10 + number))
        purchase(customer, "75.50", when=at(2025, 2, 3))
        if number % 2:
            refund(first, "30.00", when=at(2025, 2, 20))
    rich = CustomerFactory()
    purchase(rich, "400.00", when=at(2025, 3, 1))
    redeem(customer=rich, reward=RewardFactory(points_cost=100), store=default_store(), redeemed_by=owner)
    request_adjustment(customer=rich, points=25, reason="goodwill", requested_by=owner)
    assert PointsEntry.objects.count() > 15 and Event.objects.exists() and AuditEvent.objects.exists()

    dump, without_queue = tmp_path / "loyalty.dump", tmp_path / "loyalty-without-queue.dump"
    call_command("backup_database", str(dump))
    call_command("backup_database", str(without_queue), "--without-queue")
    assert dump.stat().st_mode & 0o777 == 0o600  # it holds every customer and password hash
    source = row_counts(connection.settings_dict["NAME"])
    assert source["huey_task"] == 1 and source["rewards_pointsentry"] == PointsEntry.objects.count()

    url = database_url().rsplit("/", 1)[0]
    with new_database("restored") as restored:
        result = manage("restore_database", str(dump), DATABASE_URL=f"{url}/{restored}")
        assert result.returncode == 0, result.stderr
        assert "The roll-up equals the ledger." in result.stdout
        assert "The restored database passed every check." in result.stdout
        assert row_counts(restored) == source

    # Without the queue: its tables are in the dump, the job waiting in them is not (a copy restored elsewhere
    # runs none of production's jobs).
    def contents(path):
        return subprocess.run(
            [shutil.which("pg_restore"), "--list", str(path)], capture_output=True, text=True, check=True
        ).stdout

    assert re.search(r"TABLE DATA public huey_task ", contents(dump))
    assert re.search(r"TABLE public huey_task ", contents(without_queue))
    assert not re.search(r"TABLE DATA public huey_", contents(without_queue))
    # The ledger's rows are in it: on PostgreSQL they are its partitions' data (README, "Partitioned ledger");
    # this test's 2025 entries are in the DEFAULT partition, since no month of 2025 was made for them.
    assert re.search(r"TABLE DATA public rewards_pointsentry(_default)? ", contents(without_queue))


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_a_restore_into_a_database_with_tables_is_refused_and_changes_nothing(tmp_path):
    CustomerFactory()
    dump = tmp_path / "loyalty.dump"
    call_command("backup_database", str(dump))
    before = tables()
    with pytest.raises(CommandError, match=r"already has \d+ tables: restore into a new, empty database"):
        call_command("restore_database", str(dump))
    assert tables() == before


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_a_restored_database_that_fails_a_check_fails_the_restore():
    """What restore_database runs once pg_restore is done: a check that finds a fault stops it with its error."""
    assert CHECKS_AFTER_RESTORE == [("check_points_rollup",), ("check_liability",)]
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 10))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_customermonthpoints SET earned = earned + 1")
    with pytest.raises(CommandError, match="roll-up differs from the ledger"):
        check_restored(StringIO(), StringIO())


@pytest.mark.django_db
def test_sqlite_is_not_backed_up_by_pg_dump_and_the_message_says_how(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the refusal is for SQLite")
    with pytest.raises(CommandError, match="copy it"):
        call_command("backup_database", str(tmp_path / "x.dump"))
    assert not list(tmp_path.iterdir())


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_a_restored_database_whose_books_do_not_agree_fails_the_restore():
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 10))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_storemonthpoints SET points = points + 1")
    with pytest.raises(CommandError, match="liability roll-forward does NOT agree with the ledger"):
        check_restored(StringIO(), StringIO())
