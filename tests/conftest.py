import pytest

from tests.factories import ManagerFactory, StaffFactory


@pytest.fixture
def manager(db):
    return ManagerFactory()


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client
