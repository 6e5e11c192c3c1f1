"""The till page: recording purchases, the points shown, finding and enrolling customers, resubmissions."""

import datetime as dt
import re
import uuid
from decimal import Decimal

import factory
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from customers.models import Customer
from customers.services import luhn_check_digit
from rewards.models import PointsEntry
from tests.concurrency import at_once
from tests.factories import CustomerFactory, StaffFactory, StoreFactory, at, default_store, purchase, refund
from tests.migration_rows import restore_migration_rows
from tests.pages import field_error, input_tag, input_value, text_of
from transactions.models import TillSettings, Transaction

pytestmark = pytest.mark.django_db

TILL = "/till/"


def sale(customer_text: str, amount: str = "120.00", **extra) -> dict:
    return {"customer": customer_text, "amount": amount, "idempotency_key": str(uuid.uuid4()), **extra}


# Recording ------------------------------------------------------------------------------------------


def test_a_120_purchase_earns_90_points_and_the_confirmation_says_why(staff_client, staff):
    customer = CustomerFactory(name="Jane Doe")

    response = staff_client.post(TILL, sale(customer.member_number))

    recorded = Transaction.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/till/?recorded={recorded.pk}"
    assert recorded.customer == customer
    assert recorded.amount == Decimal("120.00")
    assert recorded.store == default_store()
    assert recorded.recorded_by == staff
    assert recorded.source == Transaction.Source.TILL
    assert re.fullmatch(r"R\d{8}-[0-9A-Z]{6}", recorded.receipt_number)

    confirmation = staff_client.get(response.headers["Location"])
    page = text_of(confirmation)
    assert "Recorded $120.00 for Jane Doe" in page
    assert "90 points earned" in page
    # Every line that made the points, and their total.
    assert "50 × 1 (50–100) 50 20 × 2 (over 100) +40 Points earned 90" in page
    assert "New balance 90 points" in page
    assert "Earned this month 90 points" in page
    # The customer's panel (with its Redeem buttons) is not beside the next customer's form: one link back.
    assert "Rewards they can have" not in page
    assert f'href="/till/?customer={customer.pk}"' in confirmation.content.decode()


def test_after_recording_the_form_is_empty_for_the_next_customer_with_the_cursor_in_customer(staff_client):
    customer = CustomerFactory()
    posted = sale(customer.member_number, receipt_number="T-1")
    response = staff_client.get(staff_client.post(TILL, posted).headers["Location"])

    customer_input = input_tag(response, "customer")
    assert "autofocus" in customer_input
    assert "value=" not in customer_input
    assert "value=" not in input_tag(response, "amount")
    # A new form, a new key: the next customer's purchase is not mistaken for a resubmission.
    assert input_value(response, "idempotency_key") not in ("", None, posted["idempotency_key"])


def test_a_typed_receipt_number_is_kept(staff_client):
    customer = CustomerFactory()
    staff_client.post(TILL, sale(customer.member_number, amount="12.50", receipt_number="  A-1001 "))
    recorded = Transaction.objects.get()
    assert recorded.receipt_number == "A-1001"
    assert recorded.amount == Decimal("12.50")
    assert PointsEntry.objects.get(transaction=recorded).points == 0


@pytest.mark.parametrize(
    "typed",
    [
        lambda c: c.member_number.lower(),
        lambda c: c.email.upper(),
        lambda c: f"({c.phone[:3]}) {c.phone[3:6]}-{c.phone[6:]}",
        lambda c: "Xanthippe",
    ],
    ids=["member number", "email", "phone as typed", "part of the name"],
)
def test_the_customer_is_found_by_member_number_email_phone_or_name(staff_client, typed):
    customer = CustomerFactory(name="Xanthippe Quill")
    CustomerFactory(name="Someone Else")
    response = staff_client.post(TILL, sale(typed(customer)))
    assert response.status_code == 302
    assert Transaction.objects.get().customer == customer


def test_without_a_customer_the_page_says_what_to_type(staff_client):
    response = staff_client.post(TILL, sale("  "))
    assert response.status_code == 200
    assert field_error(response, "customer") == "Type a member number, phone, email or name."
    assert input_value(response, "amount") == "120.00"
    assert not Transaction.objects.exists()


# Unknown and ambiguous customers, enrolment -----------------------------------------------------------


def test_an_unknown_customer_is_said_so_and_offered_enrolment_keeping_the_amount(staff_client):
    CustomerFactory(name="Somebody")
    response = staff_client.post(TILL, sale("Nadia Novak", receipt_number="B-7"))

    assert response.status_code == 200
    # Nobody matching is a branch, not an error of the field: the enrolment, in the main area.
    assert field_error(response, "customer") == ""
    page = text_of(response)
    assert "No customer matches “Nadia Novak”" in page
    assert "the purchase of $120.00 is recorded in the same step" in page
    assert "Enrol and record $120.00" in page
    # The enrolment step starts from what was typed, with the cursor in it.
    assert input_value(response, "enrol-name") == "Nadia Novak"
    assert "autofocus" in input_tag(response, "enrol-name")
    # The purchase form keeps every typed value.
    assert input_value(response, "customer") == "Nadia Novak"
    assert input_value(response, "amount") == "120.00"
    assert input_value(response, "receipt_number") == "B-7"
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(("typed", "field"), [("nadia@example.com", "enrol-email"), ("555-010-2030", "enrol-phone")])
def test_the_enrolment_step_puts_a_typed_email_or_phone_in_its_field(staff_client, typed, field):
    response = staff_client.post(TILL, sale(typed))
    assert input_value(response, field) == typed
    assert input_value(response, "enrol-name") is None


def test_several_matches_are_offered_and_choosing_one_records_the_purchase_for_them(staff_client):
    first = CustomerFactory(name="Sam Smith")
    second = CustomerFactory(name="Alex Smith")
    CustomerFactory(name="Jo Brown")
    posted = sale("smith", amount="60.00")

    response = staff_client.post(TILL, posted)

    assert response.status_code == 200
    # A choice, not an error: listed in the main area with what tells them apart.
    assert field_error(response, "customer") == ""
    assert "2 customers match “smith”" in text_of(response)
    assert f"Member {second.member_number} · phone ending {second.phone[-4:]} · no visit yet" in text_of(response)
    html = response.content.decode()
    assert f'form="purchase-form" name="pick" value="{first.pk}"' in html
    assert f'form="purchase-form" name="pick" value="{second.pk}"' in html
    assert "Jo Brown" not in html
    assert input_value(response, "amount") == "60.00"
    assert not Transaction.objects.exists()

    chosen = staff_client.post(TILL, {**posted, "pick": str(second.pk)})
    assert chosen.status_code == 302
    recorded = Transaction.objects.get()
    assert recorded.customer == second
    assert recorded.amount == Decimal("60.00")


def test_more_matches_than_fit_are_cut_with_a_hint(staff_client):
    CustomerFactory.create_batch(22, name=factory.Sequence(lambda n: f"Person{n} Lee"))
    response = staff_client.post(TILL, sale("lee"))
    assert "More than 20 customers match “lee”" in text_of(response)
    assert response.content.decode().count('name="pick"') == 20
    assert "type more to narrow it down" in text_of(response)


def test_enrolling_from_the_till_records_the_typed_purchase_in_the_same_step(staff_client, staff):
    posted = sale("Nadia Novak", amount="120.00", receipt_number="B-8")
    enrol = {**posted, "enrol-name": "Nadia Novak", "enrol-phone": "(212) 555-0130", "enrol-email": ""}

    response = staff_client.post("/till/enrol/", enrol)

    customer = Customer.objects.get()
    assert customer.name == "Nadia Novak"
    assert customer.phone == "+12125550130"
    assert customer.home_store == default_store()
    # A generated member number with its check digit.
    assert re.fullmatch(r"[1-9]\d{9}", customer.member_number)
    assert luhn_check_digit(customer.member_number[:-1]) == customer.member_number[-1]
    # The purchase typed before enrolling is recorded at once, with the form's key: Record is not pressed again.
    recorded = Transaction.objects.get()
    assert (recorded.customer, recorded.amount, recorded.receipt_number) == (customer, Decimal("120.00"), "B-8")
    assert str(recorded.idempotency_key) == posted["idempotency_key"]
    assert recorded.recorded_by == staff
    assert response.status_code == 302
    assert response.headers["Location"] == f"/till/?recorded={recorded.pk}"
    assert PointsEntry.objects.get(transaction__customer=customer, kind="earn").points == 90

    page = text_of(staff_client.get(response.headers["Location"]))
    assert f"Enrolled Nadia Novak as member {customer.member_number}." in page
    assert "Recorded $120.00 for Nadia Novak" in page
    # The same form again (a double click on Enrol) enrols nobody else and records nothing more.
    again = staff_client.post("/till/enrol/", {**enrol, "enrol-phone": ""})
    assert again.headers["Location"] == f"/till/?recorded={recorded.pk}"
    assert (Customer.objects.count(), Transaction.objects.count()) == (1, 1)


def test_enrolling_without_an_amount_chooses_the_new_member_and_waits_for_the_amount(staff_client):
    posted = sale("Nadia Novak", amount="")
    response = staff_client.post("/till/enrol/", {**posted, "enrol-name": "Nadia Novak"})
    customer = Customer.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/till/?customer={customer.pk}"
    page = staff_client.get(response.headers["Location"])
    assert input_value(page, "customer") == customer.member_number
    assert "autofocus" in input_tag(page, "amount")
    assert not Transaction.objects.exists()


def test_enrolling_with_a_bad_amount_enrols_and_shows_the_amount_error_with_the_new_member_chosen(staff_client):
    response = staff_client.post("/till/enrol/", {**sale("Nadia", amount="12,50"), "enrol-name": "Nadia"})
    customer = Customer.objects.get()
    assert response.status_code == 200
    assert field_error(response, "amount") == "Amount must be a number like 12.50, not '12,50'."
    assert input_value(response, "customer") == customer.member_number
    assert not Transaction.objects.exists()


def test_a_phone_of_another_member_is_refused_beside_the_enrolment_phone(staff_client):
    holder = CustomerFactory(name="Ann Lee", phone="+12125550130")
    response = staff_client.post(
        "/till/enrol/", {**sale("Nadia", amount="10.00"), "enrol-name": "Nadia", "enrol-phone": "212.555.0130"}
    )
    taken = f"(212) 555-0130 already belongs to member {holder.member_number} (Ann Lee)."
    assert field_error(response, "enrol-phone") == taken
    assert input_value(response, "amount") == "10.00"
    assert Customer.objects.count() == 1 and not Transaction.objects.exists()


def test_enrolment_takes_a_typed_member_number_and_refuses_one_already_taken(staff_client):
    CustomerFactory(member_number="CARD-1")
    posted = sale("Nadia", amount="99.99")
    taken = staff_client.post("/till/enrol/", {**posted, "enrol-name": "Nadia", "enrol-member_number": "card-1"})
    assert taken.status_code == 200
    assert field_error(taken, "enrol-member_number") == "Member number card-1 is already taken."
    assert input_value(taken, "enrol-name") == "Nadia"
    assert input_value(taken, "amount") == "99.99"
    assert Customer.objects.count() == 1

    ok = staff_client.post("/till/enrol/", {**posted, "enrol-name": "Nadia", "enrol-member_number": "CARD-2"})
    assert ok.status_code == 302  # enrolled, and the 99.99 recorded for them
    assert Customer.objects.get(member_number="CARD-2").name == "Nadia"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"enrol-name": ""}, "enrol-name", "Type the new member's name."),
        ({"enrol-name": "N", "enrol-email": "not-an-email"}, "enrol-email", "Email must look like name@example.com."),
        (
            {"enrol-name": "N", "enrol-member_number": "no spaces"},
            "enrol-member_number",
            "A member number is letters, digits, '-' or '_', starting with a letter or digit.",
        ),
    ],
)
def test_enrolment_errors_appear_beside_their_field_and_keep_the_purchase(staff_client, fields, field, message):
    response = staff_client.post("/till/enrol/", {**sale("N", amount="45.00"), **fields})
    assert response.status_code == 200
    assert field_error(response, field) == message
    assert input_value(response, "amount") == "45.00"
    assert not Customer.objects.exists()


def test_finding_a_customer_without_an_amount_shows_them_and_puts_the_cursor_in_amount(staff_client):
    customer = CustomerFactory(name="Jane Doe")
    purchase(customer, "120.00")

    response = staff_client.post(TILL, sale(customer.email, amount=""))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/till/?customer={customer.pk}"

    page = staff_client.get(response.headers["Location"])
    assert input_value(page, "customer") == customer.member_number
    assert "autofocus" in input_tag(page, "amount")
    assert "Balance 90 points" in text_of(page)
    # Bonuses are awarded on the customer's page, one click from the till.
    assert f'href="/customers/{customer.pk}/"' in page.content.decode()
    assert Transaction.objects.count() == 1


def test_the_find_button_shows_the_customer_and_keeps_the_amount_typed(staff_client):
    customer = CustomerFactory()
    response = staff_client.post(TILL, sale(customer.member_number, action="find"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/till/?customer={customer.pk}&amount=120.00"
    assert not Transaction.objects.exists()


def test_a_chosen_match_with_a_bad_amount_keeps_the_choice(staff_client):
    chosen = CustomerFactory(name="Sam Smith")
    CustomerFactory(name="Alex Smith")
    response = staff_client.post(TILL, sale("smith", amount="12,50", pick=str(chosen.pk)))
    assert field_error(response, "amount") == "Amount must be a number like 12.50, not '12,50'."
    assert input_value(response, "customer") == chosen.member_number
    assert "Sam Smith" in text_of(response)  # the chosen customer's panel
    assert 'name="pick"' not in response.content.decode()


# Recording once ------------------------------------------------------------------------------------


def test_a_resubmitted_form_records_the_purchase_once(staff_client):
    customer = CustomerFactory()
    posted = sale(customer.member_number)

    first = staff_client.post(TILL, posted)
    again = staff_client.post(TILL, posted)  # a double click, a refresh of the POST, the back button
    edited = staff_client.post(TILL, {**posted, "amount": "300.00"})  # back, changed, resubmitted

    recorded = Transaction.objects.get()
    assert PointsEntry.objects.count() == 1
    assert first.headers["Location"] == again.headers["Location"] == edited.headers["Location"]
    assert again.headers["Location"] == f"/till/?recorded={recorded.pk}"
    page = text_of(staff_client.get(again.headers["Location"]))
    assert f"This purchase was already recorded (receipt {recorded.receipt_number}): not recorded again." in page


def test_a_form_without_a_valid_key_is_refused_and_given_a_fresh_one(staff_client):
    customer = CustomerFactory()
    response = staff_client.post(TILL, {**sale(customer.member_number), "idempotency_key": "not-a-uuid"})
    assert response.status_code == 200
    assert "This form has expired: check the values and submit again." in text_of(response)
    fresh = input_value(response, "idempotency_key")
    assert uuid.UUID(fresh)
    assert input_value(response, "amount") == "120.00"
    assert not Transaction.objects.exists()

    assert staff_client.post(TILL, {**sale(customer.member_number), "idempotency_key": fresh}).status_code == 302
    assert Transaction.objects.count() == 1


def test_a_key_already_used_by_a_refund_is_refused(staff_client):
    customer = CustomerFactory()
    key = uuid.uuid4()
    refund(purchase(customer, "120.00"), "10.00", idempotency_key=key)
    response = staff_client.post(TILL, {**sale(customer.member_number), "idempotency_key": str(key)})
    assert response.status_code == 200
    assert "This form has expired or was already used" in text_of(response)
    assert Transaction.objects.filter(kind="purchase").count() == 1


def test_the_same_receipt_number_twice_in_a_store_is_refused_beside_the_field(staff_client):
    customer = CustomerFactory()
    staff_client.post(TILL, sale(customer.member_number, receipt_number="A-1"))

    response = staff_client.post(TILL, sale(customer.member_number, amount="15.00", receipt_number="A-1"))

    assert response.status_code == 200
    assert field_error(response, "receipt_number") == "Receipt A-1 is already recorded at Main store."
    assert input_value(response, "amount") == "15.00"
    assert input_value(response, "receipt_number") == "A-1"
    assert "autofocus" in input_tag(response, "receipt_number")
    assert Transaction.objects.count() == 1


def test_the_same_receipt_number_in_another_store_is_fine(manager_client):
    customer = CustomerFactory()
    other = StoreFactory(name="Elm Street")
    manager_client.post(TILL, sale(customer.member_number, receipt_number="A-1"))
    # The same amount again within minutes is asked about first; confirmed here.
    posted = sale(customer.member_number, receipt_number="A-1", store=str(other.pk), confirm_repeat="1")
    response = manager_client.post(TILL, posted)
    assert response.status_code == 302
    assert Transaction.objects.filter(receipt_number="A-1").count() == 2


# Bad amounts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("abc", "Amount must be a number like 12.50, not 'abc'."),
        ("12,50", "Amount must be a number like 12.50, not '12,50'."),
        ("-5", "Amount must be a number like 12.50, not '-5'."),
        ("10.005", "Amount must be a number like 12.50, not '10.005'."),
        ("1e3", "Amount must be a number like 12.50, not '1e3'."),
        ("NaN", "Amount must be a number like 12.50, not 'NaN'."),
        ("0", "Amount must be more than 0.00."),
        ("2000000", "Amount 2000000 is larger than the largest allowed (1000000.00)."),
    ],
)
def test_a_bad_amount_is_explained_beside_the_field_and_the_typed_values_stay(staff_client, typed, message):
    customer = CustomerFactory()
    response = staff_client.post(TILL, sale(customer.member_number, amount=typed, receipt_number="Z-9"))

    assert response.status_code == 200
    assert field_error(response, "amount") == message
    assert '<div class="field has-error amount-field">' in response.content.decode()
    assert "autofocus" in input_tag(response, "amount")
    assert input_value(response, "amount") == typed
    assert input_value(response, "customer") == customer.member_number
    assert input_value(response, "receipt_number") == "Z-9"
    assert not Transaction.objects.exists()


# Store and moment -----------------------------------------------------------------------------------


def test_staff_record_at_their_remembered_store_and_cannot_switch_or_back_date(staff_client, staff):
    customer = CustomerFactory()
    elm, oak = StoreFactory(name="Elm Street"), StoreFactory(name="Oak Road")
    TillSettings.objects.create(user=staff, store=elm)

    page = staff_client.get(TILL)
    assert "Recording at Elm Street" in text_of(page)
    assert 'name="store"' not in page.content.decode()
    assert 'name="occurred_at"' not in page.content.decode()

    before = timezone.now()
    posted = sale(customer.member_number, store=str(oak.pk), occurred_at="2025-01-10T12:00")
    assert staff_client.post(TILL, posted).status_code == 302

    recorded = Transaction.objects.get()
    assert recorded.store == elm  # the posted store is ignored
    assert recorded.occurred_at >= before  # and so is the posted moment
    assert TillSettings.objects.get(user=staff).store == elm


def test_staff_without_a_remembered_store_record_at_the_default_store(staff_client):
    customer = CustomerFactory()
    StoreFactory(name="Elm Street")
    staff_client.post(TILL, sale(customer.member_number))
    assert Transaction.objects.get().store == default_store()


def test_a_manager_switches_store_and_the_till_remembers_it(manager_client, manager):
    customer = CustomerFactory()
    elm = StoreFactory(name="Elm Street")
    closed = StoreFactory(name="Closed Store", is_active=False)

    page = manager_client.get(TILL).content.decode()
    assert f'<option value="{default_store().pk}" selected>Main store</option>' in page
    assert "Closed Store" not in page

    assert manager_client.post(TILL, sale(customer.member_number, store=str(elm.pk))).status_code == 302
    assert Transaction.objects.get().store == elm
    assert TillSettings.objects.get(user=manager).store == elm
    assert f'<option value="{elm.pk}" selected>Elm Street</option>' in manager_client.get(TILL).content.decode()

    refused = manager_client.post(TILL, sale(customer.member_number, store=str(closed.pk)))
    assert field_error(refused, "store") == "Choose a store from the list."


def test_a_manager_back_dates_a_purchase_in_the_merchant_time_zone(manager_client, settings):
    customer = CustomerFactory()
    response = manager_client.post(TILL, sale(customer.member_number, occurred_at="2025-01-10T18:30"))
    assert response.status_code == 302
    recorded = Transaction.objects.get()
    assert recorded.occurred_at == at(2025, 1, 10, 18, 30)
    assert PointsEntry.objects.get().effective_at == at(2025, 1, 10, 18, 30)


def test_the_moment_follows_the_merchant_time_zone(manager_client, settings):
    settings.TIME_ZONE = "America/New_York"
    customer = CustomerFactory()
    manager_client.post(TILL, sale(customer.member_number, occurred_at="2025-01-10T18:30"))
    assert Transaction.objects.get().occurred_at == dt.datetime(2025, 1, 10, 23, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2999-01-01T10:00", "A purchase cannot be in the future."),
        ("yesterday", "Type a date and time like 2025-01-31 14:30."),
        ("1899-12-31T10:00", "No earning rule was in force at that moment."),
    ],
)
def test_a_manager_cannot_date_a_purchase_in_the_future_or_before_the_program(manager_client, typed, message):
    customer = CustomerFactory()
    response = manager_client.post(TILL, sale(customer.member_number, occurred_at=typed))
    assert response.status_code == 200
    assert field_error(response, "occurred_at") == message
    assert input_value(response, "occurred_at") == typed
    assert not Transaction.objects.exists()


# Suggestions, queries ------------------------------------------------------------------------------


def test_suggestions_while_typing_come_from_the_same_search(staff_client):
    jane = CustomerFactory(name="Jane Doe", phone="+12125550111", email="jane@example.com")
    CustomerFactory(name="Bob Roe")
    response = staff_client.get("/till/customers/", {"q": "jane"})
    assert response.json() == {
        "customers": [{"member_number": jane.member_number, "label": "Jane Doe · (212) 555-0111 · jane@example.com"}]
    }


def _many_transactions(customer, count: int) -> None:
    for index in range(count):
        recorded = purchase(customer, f"{100 + index}.00")
        if index % 2:
            refund(recorded, "10.00")


@pytest.mark.parametrize("count", [1, 15])
def test_the_till_page_issues_a_fixed_number_of_queries(staff_client, django_assert_num_queries, count):
    customer = CustomerFactory()
    _many_transactions(customer, count)
    last = Transaction.objects.filter(kind="purchase").order_by("-id").first()
    # session, user, the user's and the group's permissions, till store, recorded transaction,
    # its points (the account's lines), the customer's balance, the reward they are saving towards
    with django_assert_num_queries(9):
        response = staff_client.get(TILL, {"recorded": last.pk})
    assert response.status_code == 200
    assert "Recent transactions" not in text_of(response)  # no panel of the customer who has just paid


def test_the_plain_till_page_issues_a_fixed_number_of_queries(manager_client, django_assert_num_queries):
    StoreFactory.create_batch(3)
    # session, user, the user's and the group's permissions, till store, stores to choose from
    with django_assert_num_queries(6):
        assert manager_client.get(TILL).status_code == 200


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_submissions_of_one_form_racing_each_other_record_once():
    """Two requests with the same key at the same moment (a double click without JavaScript): the database's
    unique key decides, and the loser is answered with the winner's purchase."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the two requests cannot race")
    restore_migration_rows()  # a transactional test may follow one that emptied the database
    staff = StaffFactory()
    customer = CustomerFactory()
    posted = sale(customer.member_number)

    def submit():
        client = Client()  # one each: a browser tab each, on a connection each
        client.force_login(staff)
        return client.post(TILL, posted).headers["Location"]

    locations = at_once(2, submit)
    recorded = Transaction.objects.get()
    assert locations == [f"/till/?recorded={recorded.pk}"] * 2
    assert PointsEntry.objects.filter(transaction=recorded).count() == 1


def test_a_confirmation_address_shows_only_its_own_kind(staff_client):
    recorded = purchase(CustomerFactory(name="Jane Doe"), "120.00")
    refunded = refund(recorded, "30.00")
    assert "Recorded" not in text_of(staff_client.get(TILL, {"recorded": refunded.transaction.pk}))
    assert "Refunded" not in text_of(staff_client.get(TILL, {"refunded": recorded.transaction.pk}))
    assert "Recorded" not in text_of(staff_client.get(TILL, {"recorded": "nonsense"}))


@pytest.mark.parametrize("count", [0, 15])
def test_the_till_page_of_a_chosen_customer_issues_a_fixed_number_of_queries(
    staff_client, django_assert_num_queries, count
):
    customer = CustomerFactory()
    _many_transactions(customer, count)
    # session, user, permissions (2), till store, the customer, their points, the program's tiers (none
    # here), their recent transactions, the rewards they can afford, the one they save towards, their
    # recent redemptions
    with django_assert_num_queries(12):
        response = staff_client.get(TILL, {"customer": customer.pk})
    assert input_value(response, "customer") == customer.member_number
    rows = re.findall(r"<tr>", response.content.decode().split('class="table recent"')[-1].split("<tbody>")[-1])
    assert len(rows) == min(Transaction.objects.count(), 10)


@pytest.mark.parametrize("typed", ["１２.50", "١٢", "12.5０"])
def test_the_till_takes_ascii_digits_only(staff_client, typed):
    customer = CustomerFactory()
    response = staff_client.post(TILL, sale(customer.member_number, amount=typed))
    assert response.status_code == 200
    assert field_error(response, "amount") == f"Amount must be a number like 12.50, not '{typed}'."
    assert not Transaction.objects.exists()


def test_a_manager_cannot_date_a_purchase_past_the_clock_skew(manager_client, settings):
    settings.LOYALTY_CLOCK_SKEW_SECONDS = 0
    customer = CustomerFactory()
    later = timezone.localtime() + dt.timedelta(minutes=2)
    response = manager_client.post(TILL, sale(customer.member_number, occurred_at=f"{later:%Y-%m-%dT%H:%M}"))
    assert field_error(response, "occurred_at") == "A purchase cannot be in the future."
    assert not Transaction.objects.exists()
