import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, models, transaction

from tests.factories import ManagerFactory, OwnerFactory, StaffFactory
from tests.migration_rows import restore_migration_rows
from tests.worker import Worker


@pytest.fixture
def manager(db):
    return ManagerFactory()


@pytest.fixture
def owner(db):
    return OwnerFactory()


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def constraint_refusal(model: type[models.Model], name: str) -> str:
    """What the database says when `model`'s constraint `name` refuses a row, as a pattern. PostgreSQL and
    SQLite's checks name the constraint; SQLite's unique indexes name their columns instead."""
    constraint = next(c for c in model._meta.constraints if c.name == name)
    if connection.vendor == "sqlite" and isinstance(constraint, models.UniqueConstraint):
        table = model._meta.db_table
        columns = [model._meta.get_field(field).column for field in constraint.fields]
        return re.escape("UNIQUE constraint failed: " + ", ".join(f"{table}.{column}" for column in columns)) + "$"
    return rf"\b{re.escape(name)}\b"


@pytest.fixture
def refused_by():
    """`with refused_by(PointsEntry, "pointsentry_one_earn_per_purchase"): ...` passes only if that constraint,
    not another, refuses what the block writes (in a savepoint, so the test goes on). Where a row breaks
    two constraints at once, name both: which one a database reports first is its own business."""

    @contextmanager
    def refused(model: type[models.Model], *names: str) -> Iterator[None]:
        pattern = "|".join(f"(?:{constraint_refusal(model, name)})" for name in names)
        with pytest.raises(IntegrityError, match=pattern), transaction.atomic():
            yield

    return refused


def pytest_collection_modifyitems(config, items):
    # Tests marked postgres_only need PostgreSQL's behaviour (row locks, real concurrency).
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    if connection.vendor != "postgresql":
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def worker(transactional_db, tmp_path):
    """The real background worker (tests/worker.py), not yet started: `worker.start()`; stopped at the end."""
    # A transactional test empties the database when it ends: put back the roles, default store and rule.
    restore_migration_rows()
    running = Worker(tmp_path)
    yield running
    running.close()
