"""Refunds from the till and from a transaction's page, and the transaction's page itself."""

import re
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from rewards import engine
from rewards.models import PointsEntry
from rewards.selectors import customer_balance, default_program
from rewards.services.program import publish_rule_version
from tests.factories import CustomerFactory, StoreFactory, at, purchase, refund
from tests.pages import field_error, input_tag, input_value, text_of
from transactions.models import TillSettings, Transaction

pytestmark = pytest.mark.django_db


def refund_url(recorded) -> str:
    return f"/transactions/{recorded.transaction.pk}/refund/"


def refund_form(amount: str = "", **extra) -> dict:
    return {"amount": amount, "idempotency_key": str(uuid.uuid4()), **extra}


def test_a_partial_refund_from_the_till_keeps_the_points_of_what_was_not_refunded(staff_client, staff):
    customer = CustomerFactory(name="Jane Doe")
    recorded = purchase(customer, "120.00", receipt="A-1")

    response = staff_client.post(refund_url(recorded), refund_form("30.00", next="till"))

    refund_txn = Transaction.objects.get(kind="refund")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/till/?refunded={refund_txn.pk}"
    assert refund_txn.amount == Decimal("30.00")
    assert refund_txn.refund_of == recorded.transaction
    assert refund_txn.recorded_by == staff
    assert refund_txn.source == Transaction.Source.TILL
    recorded.transaction.refresh_from_db()
    assert recorded.transaction.refunded_amount == Decimal("30.00")
    # 90.00 left earns 40 under the classic rule: 50 of the 90 points are taken back.
    assert PointsEntry.objects.get(transaction=refund_txn).points == -50
    assert customer_balance(customer.pk) == 40

    page = staff_client.get(response.headers["Location"])
    shown = text_of(page)
    assert "Refunded $30.00 of receipt A-1" in shown
    # A reversal reads as one (a true minus, in the ink colour), not as a gain.
    assert "−50 points taken back" in shown
    assert '<strong class="points-reversed">−50</strong>' in page.content.decode()
    assert "New balance 40 points" in shown
    assert "autofocus" in input_tag(page, "customer")
    # Back to the customer: their purchase, with what is left to refund.
    again = text_of(staff_client.get(f"/till/?customer={customer.pk}"))
    assert "Refund amount (up to $90.00)" in again


def test_refunds_in_parts_then_in_full_end_at_zero_and_nothing_more_can_be_refunded(staff_client):
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00")

    staff_client.post(refund_url(recorded), refund_form("30.00"))
    # "Refund all" asks first: what it refunds, the points it takes back, the balance it leaves.
    posted = refund_form(full="1", reason="Returned unopened")
    asked = staff_client.post(refund_url(recorded), posted)
    assert asked.status_code == 200
    assert "Refund all $90.00 of receipt" in text_of(asked)
    assert "This takes back −40 points from" in text_of(asked)
    assert "their balance goes from 40 to 0" in text_of(asked)
    assert input_value(asked, "confirmed") == "1"
    assert input_value(asked, "reason") == "Returned unopened"
    assert Transaction.objects.filter(kind="refund").count() == 1
    response = staff_client.post(refund_url(recorded), {**posted, "confirmed": "1"})

    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/transactions/{recorded.transaction.pk}/?refunded=")
    assert list(Transaction.objects.filter(kind="refund").order_by("id").values_list("amount", flat=True)) == [
        Decimal("30.00"),
        Decimal("90.00"),
    ]
    assert customer_balance(customer.pk) == 0

    page = staff_client.get(response.headers["Location"])
    assert "Refunded $90.00 of receipt" in text_of(page)
    assert "Returned unopened" in text_of(page)  # the reason, kept with the refund
    assert PointsEntry.objects.filter(kind="reversal").latest("id").reason == "Returned unopened"
    assert "This purchase is fully refunded." in text_of(page)
    assert 'action="/transactions/' not in page.content.decode().split("Refunds")[-1]

    more = staff_client.post(refund_url(recorded), refund_form("0.01"))
    assert more.status_code == 200
    assert field_error(more, "amount") == "A refund cannot exceed what is left of the purchase (0.00)."
    nothing_left = staff_client.post(refund_url(recorded), refund_form(full="1", confirmed="1"))
    assert field_error(nothing_left, "amount") == "Nothing is left to refund on this purchase."
    assert Transaction.objects.filter(kind="refund").count() == 2


def test_a_refund_larger_than_what_is_left_is_refused_beside_the_field_with_the_typed_amount(staff_client):
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00")
    refund(recorded, "30.00")

    response = staff_client.post(refund_url(recorded), refund_form("90.01", next="till", reason="Too big"))

    # The till again, the customer chosen, the error beside that purchase's refund box (open), values kept.
    assert response.status_code == 200
    html = response.content.decode()
    box = f"refund-{recorded.transaction.pk}"
    refused = "A refund cannot exceed what is left of the purchase (90.00)."
    assert f'<p class="field-error" id="{box}-error">{refused}</p>' in html
    assert re.search(rf'<input id="{box}" name="amount"[^>]* value="90.01" autofocus aria-invalid="true"', html)
    assert 'value="Too big"' in html
    assert '<details class="refund" open>' in html
    assert input_value(response, "customer") == customer.member_number
    assert input_value(response, "next") == "till"
    assert Transaction.objects.filter(kind="refund").count() == 1
    assert customer_balance(customer.pk) == 40


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Type the amount to refund, like 12.50."),
        ("abc", "Amount must be a number like 12.50, not 'abc'."),
        ("-5", "Amount must be a number like 12.50, not '-5'."),
        ("0", "A refund must be more than 0.00."),
    ],
)
def test_a_bad_refund_amount_is_explained(staff_client, typed, message):
    recorded = purchase(CustomerFactory(), "120.00")
    response = staff_client.post(refund_url(recorded), refund_form(typed))
    assert response.status_code == 200
    assert field_error(response, "amount") == message
    assert not Transaction.objects.filter(kind="refund").exists()


def test_a_resubmitted_refund_is_recorded_once(staff_client):
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00")
    posted = refund_form("30.00", next="till")

    first = staff_client.post(refund_url(recorded), posted)
    again = staff_client.post(refund_url(recorded), posted)

    assert first.headers["Location"] == again.headers["Location"]
    assert Transaction.objects.filter(kind="refund").count() == 1
    assert customer_balance(customer.pk) == 40
    assert "This refund was already recorded ($30.00): not recorded again." in text_of(
        staff_client.get(again.headers["Location"])
    )


def test_a_double_click_on_refund_all_refunds_once(staff_client):
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00")
    posted = refund_form(full="1", confirmed="1")
    staff_client.post(refund_url(recorded), posted)
    second = staff_client.post(refund_url(recorded), posted)
    assert second.status_code == 302
    assert Transaction.objects.filter(kind="refund").count() == 1


def test_a_refund_key_used_for_another_purchase_is_refused_with_a_fresh_key(staff_client):
    customer = CustomerFactory()
    first, second = purchase(customer, "120.00"), purchase(customer, "80.00")
    posted = refund_form("10.00")
    staff_client.post(refund_url(first), posted)

    response = staff_client.post(refund_url(second), posted)

    assert response.status_code == 200
    assert "This form has expired or was already used" in text_of(response)
    assert input_value(response, "idempotency_key") != posted["idempotency_key"]
    assert Transaction.objects.filter(kind="refund").count() == 1


def test_the_refund_reverses_by_the_rule_the_purchase_earned_with(staff_client):
    customer = CustomerFactory()
    recorded = purchase(customer, "120.00", when=at(2025, 1, 10))
    generous = engine.Rule(bands=(engine.Band(threshold=0, rate=Decimal(5)),))
    publish_rule_version(program=default_program(), rule=generous, effective_from=at(2025, 2, 1))

    staff_client.post(refund_url(recorded), refund_form("30.00"))

    # Under the classic rule of the purchase: 90 -> 40, not the new rule's 5 points a dollar.
    assert PointsEntry.objects.get(kind="reversal").points == -50
    assert customer_balance(customer.pk) == 40


def test_a_refund_is_recorded_at_the_store_of_the_till(staff_client, staff):
    elm = StoreFactory(name="Elm Street")
    TillSettings.objects.create(user=staff, store=elm)
    recorded = purchase(CustomerFactory(), "120.00")
    staff_client.post(refund_url(recorded), refund_form("20.00"))
    assert Transaction.objects.get(kind="refund").store == elm


def test_a_refund_cannot_be_refunded_and_the_endpoint_takes_posts_only(staff_client):
    recorded = purchase(CustomerFactory(), "120.00")
    refunded = refund(recorded, "10.00")
    assert staff_client.post(f"/transactions/{refunded.transaction.pk}/refund/", refund_form("1.00")).status_code == 404
    assert staff_client.get(refund_url(recorded)).status_code == 405


# The transaction's page ----------------------------------------------------------------------------------


def test_the_transaction_page_shows_the_purchase_its_points_its_refunds_and_a_refund_form(staff_client):
    customer = CustomerFactory(name="Jane Doe")
    recorded = purchase(customer, "120.00", receipt="A-1")
    refunded = refund(recorded, "30.00", receipt_number="RF-1")

    response = staff_client.get(f"/transactions/{recorded.transaction.pk}/")

    shown = text_of(response)
    assert "Purchase A-1" in shown
    assert "Jane Doe" in shown
    assert "Left to refund $90.00" in shown
    assert "50 × 1 (50–100) 50 20 × 2 (over 100) +40 Points earned 90" in shown
    assert "120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90" in shown
    assert f'href="/transactions/{refunded.transaction.pk}/">RF-1</a>' in response.content.decode()
    assert "−50" in shown
    assert "Customer's balance 40 points" in shown
    assert "Refund all $90.00" in shown
    assert uuid.UUID(input_value(response, "idempotency_key"))


def test_a_refund_page_links_to_its_purchase_and_offers_no_refund(staff_client):
    recorded = purchase(CustomerFactory(), "120.00", receipt="A-1")
    refunded = refund(recorded, "30.00", receipt_number="RF-1")
    response = staff_client.get(f"/transactions/{refunded.transaction.pk}/")
    assert f'<a href="/transactions/{recorded.transaction.pk}/">Purchase A-1</a>' in response.content.decode()
    assert "Refund this purchase" not in text_of(response)
    assert "refund of 30.00 from 120.00 (receipt A-1)" in text_of(response)


def test_an_unknown_transaction_is_a_404_page(staff_client):
    response = staff_client.get("/transactions/999999/")
    assert response.status_code == 404
    assert "Not found" in text_of(response)


@pytest.mark.parametrize("refunds", [0, 12])
def test_the_transaction_page_issues_a_fixed_number_of_queries(staff_client, django_assert_num_queries, refunds):
    recorded = purchase(CustomerFactory(), "1000.00", when=timezone.now() - timezone.timedelta(hours=1))
    for _ in range(refunds):
        refund(recorded, "1.00")
    # session, user, the user's and the group's permissions, the transaction, its points,
    # its refunds, the customer's balance
    with django_assert_num_queries(8):
        response = staff_client.get(f"/transactions/{recorded.transaction.pk}/")
    if refunds:
        assert response.content.decode().split('id="refunds-heading"')[1].split("<tbody>")[1].count("<tr>") == refunds
    else:
        assert "No refunds." in text_of(response)
