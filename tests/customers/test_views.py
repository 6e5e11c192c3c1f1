"""The start page: store staff land on the till; managers keep the start page, which links to the till."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from rewards.models import CustomerTier, Tier
from rewards.selectors import default_program
from rewards.services.adjustments import request_adjustment
from tests.factories import CustomerFactory, purchase, refund
from tests.pages import field_error, text_of

pytestmark = pytest.mark.django_db


def test_store_staff_land_on_the_till_after_signing_in(client, staff):
    response = client.post("/accounts/login/", {"username": staff.username, "password": "correct horse battery staple"})
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/till/"


def test_managers_keep_the_start_page_with_a_link_to_the_till(manager_client):
    response = manager_client.get("/")
    assert response.status_code == 200
    assert "Till Record purchases and refunds" in text_of(response)


# The managers' customer list -----------------------------------------------------------------------------


def _list_rows(response) -> list[list[str]]:
    body = response.content.decode().split('id="customer-list"', 1)[1].split("<tbody", 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def test_the_customer_list_shows_balance_tier_last_visit_spend_and_points_of_12_months(manager_client):
    silver = Tier.objects.create(program=default_program(), name="Silver", rank=1, threshold=80)
    ann, bob = CustomerFactory(member_number="A1", name="Ann"), CustomerFactory(member_number="B2", name="Bob")
    bought = purchase(ann, "120.00", when=timezone.now() - dt.timedelta(days=3))  # 90 points, Silver
    refund(bought, "20.00", when=timezone.now() - dt.timedelta(days=2))  # 100.00 left earns 50
    purchase(bob, "75.00", when=timezone.now() - dt.timedelta(days=500))  # 25, long ago
    assert CustomerTier.objects.get(customer=ann).tier == silver

    rows = _list_rows(manager_client.get("/customers/list/"))
    assert rows[0][:4] == ["A1", "Ann", "50", "Silver"]
    assert rows[0][5:] == ["$100.00", "50"]  # spend and points of the last 12 months
    assert rows[1][:4] == ["B2", "Bob", "25", "—"]
    assert rows[1][5:] == ["$0.00", "0"]
    assert [row[0] for row in _list_rows(manager_client.get("/customers/list/", {"sort": "-balance"}))] == ["A1", "B2"]
    assert [row[0] for row in _list_rows(manager_client.get("/customers/list/", {"sort": "balance"}))] == ["B2", "A1"]
    assert [row[0] for row in _list_rows(manager_client.get("/customers/list/", {"tier": silver.pk}))] == ["A1"]
    assert [row[0] for row in _list_rows(manager_client.get("/customers/list/", {"tier": "none"}))] == ["B2"]


@pytest.mark.parametrize("customers", [2, 30])
def test_a_page_of_the_customer_list_is_two_queries_whatever_the_data(
    manager_client, django_assert_num_queries, customers
):
    for customer in CustomerFactory.create_batch(customers):
        purchase(customer, "60.00")
    # session, user, permissions (2), the tiers for the filter, the home stores, the count, the page
    with django_assert_num_queries(8):
        assert manager_client.get("/customers/list/", {"sort": "-points_12m"}).status_code == 200


def test_the_customer_list_is_for_managers(staff_client):
    assert staff_client.get("/customers/list/").status_code == 403


def test_the_customer_list_download_neutralises_formulas_and_is_recorded(manager_client):
    CustomerFactory(member_number="=HYPERLINK()", name="@evil")
    response = manager_client.get("/customers/list/", {"_export": "csv"})
    assert response.content.decode().splitlines()[1].startswith("'=HYPERLINK(),'@evil,0")
    assert AuditEvent.objects.get(event="export").additional_data["report"] == "customers"


# Contact details from the till ------------------------------------------------------------------------


def test_staff_correct_contact_details_and_go_back_to_the_till(staff_client, staff):
    ann = CustomerFactory(name="Ann", phone="+12125550100", email="ann@example.com")
    page = staff_client.get(f"/customers/{ann.pk}/contact/", {"next": "till"})
    assert 'value="(212) 555-0100"' in page.content.decode()
    refused = staff_client.post(
        f"/customers/{ann.pk}/contact/", {"name": "Ann", "phone": "12", "email": "", "next": "till"}
    )
    assert field_error(refused, "phone").startswith("Type a phone number like")
    done = staff_client.post(
        f"/customers/{ann.pk}/contact/", {"name": "Ann Lee", "phone": "212-555-0101", "email": "", "next": "till"}
    )
    assert done.headers["Location"] == f"/till/?customer={ann.pk}"
    ann.refresh_from_db()
    assert (ann.name, ann.phone, ann.email) == ("Ann Lee", "+12125550101", "")
    event = AuditEvent.objects.get(event="contact_corrected")
    assert event.actor == staff and set(event.changes) == {"name", "phone", "email"}


def test_a_manager_withdraws_their_pending_adjustment_from_the_approvals_page(manager_client, manager):
    ann = CustomerFactory()
    pending = request_adjustment(customer=ann, points=900, reason="lost card", requested_by=manager)
    page = manager_client.get("/customers/adjustments/").content.decode()
    assert f'action="/customers/adjustments/{pending.pk}/withdraw/"' in page
    assert manager_client.post(f"/customers/adjustments/{pending.pk}/withdraw/").status_code == 302
    pending.refresh_from_db()
    assert pending.status == "withdrawn"
