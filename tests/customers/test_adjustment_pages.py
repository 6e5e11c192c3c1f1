"""Adjusting points from the staff customer page, and the second manager's approvals page."""

import pytest

from rewards.models import AdjustmentRequest, Program
from rewards.selectors import customer_balance
from tests.factories import CustomerFactory, ManagerFactory, purchase
from tests.pages import text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    customer = CustomerFactory(name="Ada Lovelace")
    purchase(customer, "120.00")
    return customer


def test_a_manager_adjusts_from_the_customer_page_and_the_statement_shows_who(customer, manager_client, manager):
    response = manager_client.post(f"/customers/{customer.pk}/adjust/", {"points": "-20", "reason": "damaged voucher"})
    assert response.status_code == 302
    assert customer_balance(customer.pk) == 70
    page = text_of(manager_client.get(f"/customers/{customer.pk}/"))
    assert "damaged voucher" in page
    statement = text_of(manager_client.get(f"/reports/customers/{customer.pk}/"))
    assert "damaged voucher" in statement and manager.username in statement


def test_the_reason_is_required(customer, manager_client):
    response = manager_client.post(f"/customers/{customer.pk}/adjust/", {"points": "20", "reason": ""})
    assert response.status_code == 400
    assert "This field is required" in text_of(response)
    assert customer_balance(customer.pk) == 90


def test_store_staff_cannot_adjust_nor_see_the_form(customer, staff_client):
    assert staff_client.post(f"/customers/{customer.pk}/adjust/", {"points": "20", "reason": "x"}).status_code == 403
    assert "Adjust points" not in text_of(staff_client.get(f"/customers/{customer.pk}/"))
    assert customer_balance(customer.pk) == 90


def test_over_the_threshold_a_second_manager_approves_on_the_approvals_page(customer, client, manager):
    Program.objects.filter(is_default=True).update(adjustment_approval_threshold=100)
    client.force_login(manager)
    client.post(f"/customers/{customer.pk}/adjust/", {"points": "500", "reason": "store opening gift"})
    adjustment = AdjustmentRequest.objects.get()
    assert customer_balance(customer.pk) == 90
    assert "Your request: another manager decides" in text_of(client.get("/customers/adjustments/"))
    client.post(f"/customers/adjustments/{adjustment.pk}/decide/", {"decision": "approve"})
    assert customer_balance(customer.pk) == 90

    client.force_login(ManagerFactory())
    assert "store opening gift" in text_of(client.get("/customers/adjustments/"))
    client.post(f"/customers/adjustments/{adjustment.pk}/decide/", {"decision": "approve"})
    assert customer_balance(customer.pk) == 590
    assert "Nothing is waiting" in text_of(client.get("/customers/adjustments/"))
