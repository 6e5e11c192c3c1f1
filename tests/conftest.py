import pytest
from django.db import connection

from tests.factories import ManagerFactory, OwnerFactory, StaffFactory


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


def pytest_collection_modifyitems(config, items):
    # Tests marked postgres_only need PostgreSQL's behaviour (row locks, real concurrency).
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    if connection.vendor != "postgresql":
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)
