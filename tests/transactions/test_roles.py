"""Who may use the till, the transaction pages and refunds; what store staff cannot open (a 403 page, not a crash)."""

import uuid

import pytest
from django.contrib.auth.models import Group

from loyalty_site.access import STAFF_ONLY
from rewards.models import RuleVersion
from tests.factories import CustomerFactory, ManagerFactory, StoreFactory, UserFactory, purchase
from tests.pages import text_of
from transactions.models import TillSettings, Transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded():
    return purchase(CustomerFactory(), "120.00")


def till_pages(recorded):
    pk = recorded.transaction.pk
    return [
        ("get", "/till/", {}),
        ("get", "/till/customers/?q=a", {}),
        ("get", f"/transactions/{pk}/", {}),
        ("post", "/till/", {"customer": "x", "amount": "1.00", "idempotency_key": str(uuid.uuid4())}),
        ("post", "/till/enrol/", {"enrol-name": "New Member", "idempotency_key": str(uuid.uuid4())}),
        ("post", f"/transactions/{pk}/refund/", {"amount": "1.00", "idempotency_key": str(uuid.uuid4())}),
    ]


def test_signed_out_visitors_are_sent_to_sign_in(client, recorded):
    for method, url, data in till_pages(recorded):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/accounts/login/?next="), url
    assert Transaction.objects.count() == 1


def test_a_user_in_no_group_gets_the_403_page_with_its_message(client, recorded):
    client.force_login(UserFactory())
    for method, url, data in till_pages(recorded):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, url
        assert "You cannot open this page" in text_of(response), url
        assert STAFF_ONLY in text_of(response), url
    assert Transaction.objects.count() == 1


def test_store_staff_use_the_till_open_transactions_enrol_and_refund(staff_client, recorded):
    pk = recorded.transaction.pk
    assert staff_client.get("/till/").status_code == 200
    assert staff_client.get(f"/transactions/{pk}/").status_code == 200
    assert staff_client.get("/customers/", {"q": "x"}).status_code == 200
    enrolled = staff_client.post("/till/enrol/", {"enrol-name": "New Member", "idempotency_key": str(uuid.uuid4())})
    assert enrolled.status_code == 302
    refunded = staff_client.post(
        f"/transactions/{pk}/refund/", {"amount": "1.00", "idempotency_key": str(uuid.uuid4())}
    )
    assert refunded.status_code == 302
    assert Transaction.objects.filter(kind="refund").count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        "/admin/auth/group/",
        "/admin/rewards/ruleversion/add/",
        "/admin/rewards/program/",
        "/admin/transactions/tillsettings/",
    ],
)
def test_store_staff_get_a_403_page_for_user_management_and_program_rules(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 403
    assert "You cannot open this page" in text_of(response)


def test_store_staff_cannot_open_a_rule_version_change_page(staff_client):
    version = RuleVersion.objects.get()
    response = staff_client.get(f"/admin/rewards/ruleversion/{version.pk}/change/")
    assert response.status_code == 403
    assert "You cannot open this page" in text_of(response)
    assert staff_client.post(f"/admin/rewards/ruleversion/{version.pk}/change/", {"note": "x"}).status_code == 403


def test_store_staff_do_not_see_the_managers_links(staff_client):
    page = staff_client.get("/till/").content.decode()
    assert 'href="/till/"' in page
    assert 'href="/reports/"' not in page


def test_managers_use_the_till_and_set_staff_stores_but_not_the_admins_user_management(manager_client, recorded):
    page = manager_client.get("/till/")
    assert page.status_code == 200
    assert 'name="store"' in page.content.decode()
    assert 'name="occurred_at"' in page.content.decode()
    # Accounts, groups and permissions are the owners' (managers manage store staff on /staff/).
    assert manager_client.get("/admin/auth/user/").status_code == 403
    assert manager_client.get("/admin/transactions/tillsettings/").status_code == 200
    assert manager_client.get(f"/transactions/{recorded.transaction.pk}/").status_code == 200


def test_a_manager_sets_a_staff_members_store_in_the_admin(manager_client, staff):
    elm = StoreFactory(name="Elm Street")
    response = manager_client.post("/admin/transactions/tillsettings/add/", {"user": staff.pk, "store": elm.pk})
    assert response.status_code == 302
    assert TillSettings.objects.get(user=staff).store == elm


def test_the_roles_are_the_groups_of_the_foundation():
    # The till relies on these permissions; a renamed group or permission must fail here, not at the counter.
    assert Group.objects.get(name="Store staff").permissions.filter(codename="use_till").exists()
    manager = ManagerFactory()
    assert manager.has_perm("transactions.use_till")
    assert manager.has_perm("rewards.view_reports")
