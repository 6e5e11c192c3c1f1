"""Every page needs a sign-in; the admin serves data entry for every model and records through the services."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from rewards.models import CustomerMonthPoints, PointsEntry, Program, RuleVersion
from tests.factories import CustomerFactory, at, purchase
from transactions.models import Store, Transaction

pytestmark = pytest.mark.django_db

MODELS = [Customer, Store, Transaction, Program, RuleVersion, PointsEntry, CustomerMonthPoints]


def test_signed_out_visitor_to_the_start_page_lands_on_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    assert "Sign in" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("model", MODELS)
def test_admin_refuses_a_signed_out_visitor(client, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize("model", MODELS)
def test_admin_list_pages_load_for_a_manager(manager_client, model):
    recorded = purchase(CustomerFactory(name="Listed Person"), "120.00")
    response = manager_client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    assert response.status_code == 200
    if model in (Customer, Transaction, PointsEntry):
        assert recorded.transaction.customer.member_number in response.content.decode()


def test_admin_search_finds_customers_by_phone_and_transactions_by_receipt(manager_client):
    customer = CustomerFactory(phone="5559876543", name="Phone Person")
    purchase(customer, "10.00", receipt="RCPT-77")
    changelist = reverse("admin:customers_customer_changelist")
    assert "Phone Person" in manager_client.get(changelist, {"q": "5559876543"}).content.decode()
    found = manager_client.get(reverse("admin:transactions_transaction_changelist"), {"q": "RCPT-77"})
    assert "RCPT-77" in found.content.decode()


def test_adding_a_purchase_in_the_admin_records_its_points(manager_client, manager):
    customer = CustomerFactory()
    store = Store.objects.get(is_default=True)
    response = manager_client.post(
        reverse("admin:transactions_transaction_add"),
        {
            "kind": "purchase",
            "customer": customer.pk,
            "store": store.pk,
            "amount": "120.00",
            "occurred_at_0": "2025-01-15",
            "occurred_at_1": "10:00:00",
            "receipt_number": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    recorded = Transaction.objects.get()
    assert (recorded.source, recorded.recorded_by, recorded.amount) == ("admin", manager, Decimal("120.00"))
    assert PointsEntry.objects.get(transaction=recorded).points == 90


def test_adding_a_refund_in_the_admin_reverses_points_and_refuses_too_much(manager_client):
    recorded = purchase(CustomerFactory(), "120.00", when=at(2025, 1, 10))
    url = reverse("admin:transactions_transaction_add")
    form = {
        "kind": "refund",
        "store": recorded.transaction.store_id,
        "refund_of": recorded.transaction.pk,
        "occurred_at_0": "2025-01-11",
        "occurred_at_1": "10:00:00",
    }
    too_much = manager_client.post(url, {**form, "amount": "120.01"})
    assert too_much.status_code == 200
    assert "cannot exceed what is left of the purchase" in too_much.content.decode()
    assert manager_client.post(url, {**form, "amount": "30.00"}).status_code == 302
    assert PointsEntry.objects.get(kind="reversal").points == -50


def test_adding_a_customer_in_the_admin_enrols_them(manager_client):
    response = manager_client.post(
        reverse("admin:customers_customer_add"),
        {
            "member_number": "M-42",
            "name": "New Member",
            "phone": "(212) 555-0122",
            "email": "",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "09:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Customer.objects.get(member_number="M-42").phone == "+12125550122"


def test_the_ledger_is_read_only_in_the_admin(manager_client):
    recorded = purchase(CustomerFactory(), "120.00")
    assert manager_client.get(reverse("admin:rewards_pointsentry_add")).status_code == 403
    change = manager_client.get(reverse("admin:rewards_pointsentry_change", args=[recorded.entry.pk]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    assert manager_client.post(reverse("admin:rewards_pointsentry_delete", args=[recorded.entry.pk])).status_code == 403


def test_a_rule_version_cannot_start_in_the_past(manager_client):
    program = Program.objects.get(is_default=True)
    response = manager_client.post(
        reverse("admin:rewards_ruleversion_add"),
        {
            "program": program.pk,
            "effective_from_0": "2020-01-01",
            "effective_from_1": "00:00:00",
            "rule": '{"bands": [{"threshold": 0, "rate": "1"}]}',
            "note": "",
        },
    )
    assert response.status_code == 200
    assert "cannot start in the past" in response.content.decode()
    assert RuleVersion.objects.count() == 1


def test_store_staff_cannot_open_the_admin_at_all_and_get_a_403_page(staff_client):
    response = staff_client.get(reverse("admin:auth_user_changelist"))
    assert response.status_code == 403
    assert "The admin is for managers and owners" in response.content.decode()
    assert staff_client.get(reverse("admin:customers_customer_changelist")).status_code == 403
    assert staff_client.get(reverse("admin:index")).status_code == 403


def test_customer_search_page(staff_client):
    CustomerFactory(name="Findable Person", member_number="M777")
    page = staff_client.get(reverse("customers:search"), {"q": "findable"}).content.decode()
    assert "M777" in page


def test_a_user_without_a_role_gets_the_403_page_with_its_message(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x" * 12))
    response = client.get(reverse("customers:search"))
    assert response.status_code == 403
    assert "You cannot open this page" in response.content.decode()


def admin_purchase(customer, **changes) -> dict:
    return {
        "kind": "purchase",
        "customer": customer.pk,
        "store": Store.objects.get(is_default=True).pk,
        "amount": "120.00",
        "occurred_at_0": "2025-01-15",
        "occurred_at_1": "10:00:00",
        "receipt_number": "",
    } | changes


def admin_error_beside(response, field: str) -> str:
    """The admin's error list of a field (rendered in the field's row)."""
    html = response.content.decode()
    match = re.search(
        rf'<div class="form-row[^"]*field-{field}[^"]*">\s*<ul class="errorlist[^"]*"[^>]*><li>(.*?)</li>', html
    )
    assert match, f"no error beside {field}"
    return match.group(1)


def test_the_admin_refuses_a_purchase_in_the_future_beside_its_moment(manager_client, settings):
    settings.TIME_ZONE = "UTC"
    customer = CustomerFactory()
    tomorrow = timezone.now() + dt.timedelta(days=1)
    response = manager_client.post(
        reverse("admin:transactions_transaction_add"),
        admin_purchase(customer, occurred_at_0=f"{tomorrow:%Y-%m-%d}", occurred_at_1=f"{tomorrow:%H:%M:%S}"),
    )
    assert response.status_code == 200
    assert admin_error_beside(response, "occurred_at") == "A purchase cannot be in the future."
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("amount", ["１２０.00", "١٢٠"])
def test_the_admin_takes_ascii_digits_only(manager_client, amount):
    response = manager_client.post(
        reverse("admin:transactions_transaction_add"), admin_purchase(CustomerFactory(), amount=amount)
    )
    assert response.status_code == 200
    assert admin_error_beside(response, "amount").startswith("Amount must be a number like 12.50")
    assert not Transaction.objects.exists()
