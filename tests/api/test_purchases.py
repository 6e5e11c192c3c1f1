"""POST /api/v1/purchases and /refunds: the till's services, answered with the points, the lines and the balance."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from api.models import ApiKey
from audit.models import AuditEvent
from rewards.models import PointsEntry
from rewards.selectors import customer_balance
from rewards.services.books import close_month
from tests.factories import StoreFactory, default_store, purchase
from transactions.models import Transaction

from .conftest import problem

pytestmark = pytest.mark.django_db


def test_a_120_purchase_earns_90_with_each_line_the_balance_and_the_key_as_recorder(staff_api, customer):
    response = staff_api.post("purchases", {"customer": "M100", "amount": "120.00", "receipt_number": "POS-1"})

    assert response.status_code == 201, response.content
    body = response.json()
    recorded = Transaction.objects.get()
    assert body["transaction"] == {
        "id": recorded.pk,
        "kind": "purchase",
        "receipt_number": "POS-1",
        "store": default_store().code,
        "amount": "120.00",
        "occurred_at": timezone.localtime(recorded.occurred_at).isoformat(),
        "source": "api",
    }
    assert body["customer"] == {"member_number": "M100", "name": "Ann Example"}
    assert body["points"] == 90
    assert body["lines"] == [{"label": "50 × 1 (50–100)", "points": 50}, {"label": "20 × 2 (over 100)", "points": 40}]
    assert sum(line["points"] for line in body["lines"]) == body["points"]
    assert body["balance"] == body["points_this_month"] == 90
    # Attributed to the key: its own account, and the source `api`.
    key = ApiKey.objects.get()
    assert recorded.recorded_by == key.user and recorded.source == Transaction.Source.API


def test_an_amount_sent_as_a_json_number_is_refused_beside_the_field_and_nothing_is_written(staff_api, customer):
    response = staff_api.post("purchases", {"customer": "M100", "amount": 120.5})

    assert response.status_code == 422
    body = problem(response)
    assert body["errors"] == [
        {
            "pointer": "#/amount",
            "detail": 'Send the amount as a string, like "12.50": a JSON number may have lost cents on the way.',
        }
    ]
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("12,50", "Amount must be a number like 12.50, not '12,50'."),
        ("10.005", "Amount must be a number like 12.50, not '10.005'."),
        ("-5", "Amount must be a number like 12.50, not '-5'."),
        ("１２", "Amount must be a number like 12.50, not '１２'."),
        ("1000000.01", "Amount 1000000.01 is larger than the largest allowed (1000000.00)."),
        (True, 'Send the amount as a string, like "12.50".'),
    ],
)
def test_amounts_the_till_refuses_are_refused_with_the_same_words(staff_api, customer, amount, message):
    response = staff_api.post("purchases", {"customer": "M100", "amount": amount})
    assert response.status_code == 422
    assert problem(response)["errors"] == [{"pointer": "#/amount", "detail": message}]


def test_every_refused_field_is_named_at_once(staff_api):
    response = staff_api.post("purchases", {"amount": "abc", "occurred_at": "yesterday", "store": "no such/store"})
    pointers = sorted(entry["pointer"] for entry in problem(response)["errors"])
    assert pointers == ["#/amount", "#/customer", "#/occurred_at", "#/store"]


def test_an_unknown_customer_or_store_is_refused_beside_its_field(staff_api, customer):
    unknown = problem(staff_api.post("purchases", {"customer": "NOPE", "amount": "5.00"}))
    assert unknown["errors"] == [{"pointer": "#/customer", "detail": "No customer has the member number NOPE."}]
    closed = StoreFactory(code="closed", is_active=False)
    refused = problem(staff_api.post("purchases", {"customer": "M100", "amount": "5.00", "store": closed.code}))
    assert refused["errors"] == [{"pointer": "#/store", "detail": "No open store has the code closed."}]


def test_moments_need_an_offset_and_are_never_in_the_future(manager_api, customer):
    naive = problem(
        manager_api.post("purchases", {"customer": "M100", "amount": "5.00", "occurred_at": "2025-01-31T10:00"})
    )
    assert naive["errors"][0]["pointer"] == "#/occurred_at"
    assert "offset" in naive["errors"][0]["detail"]
    future = (timezone.now() + dt.timedelta(days=1)).isoformat()
    refused = problem(manager_api.post("purchases", {"customer": "M100", "amount": "5.00", "occurred_at": future}))
    assert refused["errors"] == [{"pointer": "#/occurred_at", "detail": "A purchase cannot be in the future."}]
    ancient = problem(
        manager_api.post(
            "purchases", {"customer": "M100", "amount": "5.00", "occurred_at": "0001-01-01T00:00:00+14:00"}
        )
    )
    assert ancient["errors"] == [{"pointer": "#/occurred_at", "detail": "Give a moment from 1900 to 2999."}]


def test_a_managers_key_back_dates_a_purchase_and_it_earns_in_that_month(manager_api, customer):
    response = manager_api.post(
        "purchases", {"customer": "M100", "amount": "120.00", "occurred_at": "2025-01-31T23:30:00+00:00"}
    )
    assert response.status_code == 201, response.content
    assert Transaction.objects.get().occurred_at == dt.datetime(2025, 1, 31, 23, 30, tzinfo=dt.UTC)


def test_a_store_staff_key_cannot_back_date_as_store_staff_cannot_at_the_till(staff_api, customer):
    response = staff_api.post(
        "purchases", {"customer": "M100", "amount": "5.00", "occurred_at": "2025-01-31T10:00:00Z"}
    )
    assert response.status_code == 403
    assert "back-dating" in problem(response)["detail"]
    # Its own clock's "now" is accepted (within the clock skew the till allows).
    now = timezone.now().isoformat()
    assert staff_api.post("purchases", {"customer": "M100", "amount": "5.00", "occurred_at": now}).status_code == 201


def test_a_key_bound_to_a_store_records_there_and_may_name_no_other(make_key, customer):
    elm = StoreFactory(code="elm", name="Elm Street")
    StoreFactory(code="oak")
    _, api = make_key("staff", store=elm)

    assert api.post("purchases", {"customer": "M100", "amount": "5.00"}).json()["transaction"]["store"] == "elm"
    assert api.post("purchases", {"customer": "M100", "amount": "6.00", "store": "elm"}).status_code == 201
    refused = api.post("purchases", {"customer": "M100", "amount": "7.00", "store": "oak"})
    assert refused.status_code == 403
    assert problem(refused)["detail"] == "This key records at store elm only."
    assert Transaction.objects.count() == 2


def test_a_key_without_a_store_records_where_the_request_says(staff_api, customer):
    StoreFactory(code="oak")
    assert (
        staff_api.post("purchases", {"customer": "M100", "amount": "5.00", "store": "oak"}).json()["transaction"][
            "store"
        ]
        == "oak"
    )


def test_a_receipt_number_already_used_in_the_store_is_refused(staff_api, customer):
    purchase(customer, "10.00", receipt="R-7")
    response = staff_api.post("purchases", {"customer": "M100", "amount": "10.00", "receipt_number": "R-7"})
    assert problem(response)["errors"] == [
        {"pointer": "#/receipt_number", "detail": f"Receipt R-7 is already recorded at {default_store().name}."}
    ]


# ---------------------------------------------------------------------------------------------------
# Refunds.


def test_refund_30_of_a_120_purchase_by_its_id_leaves_40_points(staff_api, customer):
    bought = purchase(customer, "120.00")
    response = staff_api.post("refunds", {"purchase": {"id": bought.transaction.pk}, "amount": "30.00"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["points"] == -50 and body["balance"] == 40
    assert sum(line["points"] for line in body["lines"]) == -50
    assert body["transaction"]["kind"] == "refund" and body["transaction"]["source"] == "api"
    assert body["purchase"] == {
        "id": bought.transaction.pk,
        "receipt_number": bought.transaction.receipt_number,
        "store": default_store().code,
        "amount": "120.00",
        "refunded": "30.00",
        "left": "90.00",
    }


def test_refund_by_receipt_number_and_store(staff_api, customer):
    oak = StoreFactory(code="oak")
    purchase(customer, "120.00", receipt="OAK-1", store=oak)
    response = staff_api.post("refunds", {"purchase": {"receipt_number": "OAK-1", "store": "oak"}, "amount": "120.00"})
    assert response.status_code == 201
    assert customer_balance(customer.pk) == 0
    missing = problem(staff_api.post("refunds", {"purchase": {"receipt_number": "OAK-1"}, "amount": "1.00"}))
    assert missing["errors"] == [{"pointer": "#/purchase/store", "detail": "Name the store of the receipt."}]


def test_a_refund_beyond_what_is_left_or_of_an_unknown_purchase_is_refused(staff_api, customer):
    bought = purchase(customer, "120.00")
    too_much = problem(staff_api.post("refunds", {"purchase": {"id": bought.transaction.pk}, "amount": "120.01"}))
    assert too_much["errors"] == [
        {"pointer": "#/amount", "detail": "A refund cannot exceed what is left of the purchase (120.00)."}
    ]
    unknown = problem(staff_api.post("refunds", {"purchase": {"id": 999999}, "amount": "1.00"}))
    assert unknown["errors"] == [{"pointer": "#/purchase", "detail": "No purchase has the id 999999."}]
    both = problem(staff_api.post("refunds", {"purchase": {"id": 1, "receipt_number": "X"}, "amount": "1.00"}))
    assert both["errors"][0]["pointer"] == "#/purchase"
    assert Transaction.objects.count() == 1


def test_a_store_bound_key_refunds_any_stores_purchase_at_its_own_store_as_the_till_does(make_key, customer):
    elm = StoreFactory(code="elm")
    bought = purchase(customer, "120.00")  # at the default store
    _, api = make_key("staff", store=elm)
    response = api.post("refunds", {"purchase": {"id": bought.transaction.pk}, "amount": "20.00"})
    assert response.json()["transaction"]["store"] == "elm"


def test_the_refund_is_in_the_audit_trail_under_the_keys_account(staff_api, customer):
    bought = purchase(customer, "50.00")
    staff_api.post("refunds", {"purchase": {"id": bought.transaction.pk}, "amount": "50.00"})
    event = AuditEvent.objects.get(event="refund")
    assert event.actor == ApiKey.objects.get().user
    assert event.additional_data["source"] == "api"


def test_points_entries_of_an_api_purchase_are_the_tills(staff_api, customer):
    staff_api.post("purchases", {"customer": "M100", "amount": "250.00"})
    entry = PointsEntry.objects.get()
    assert (entry.kind, entry.points) == ("earn", 50 + 150 * 2)
    assert Transaction.objects.get().amount == Decimal("250.00")


def test_a_moment_sent_in_utc_is_the_same_moment_shown_with_the_merchants_offset(manager_api, customer):
    body = manager_api.post(
        "purchases", {"customer": "M100", "amount": "5.00", "occurred_at": "2025-03-01T04:30:00Z"}
    ).json()
    assert dt.datetime.fromisoformat(body["transaction"]["occurred_at"]) == dt.datetime(
        2025, 3, 1, 4, 30, tzinfo=dt.UTC
    )


def test_a_purchase_dated_in_a_closed_month_is_refused_beside_its_moment(manager_api, customer, manager):
    close_month(month=dt.date(2025, 1, 1), closed_by=manager)
    refused = problem(
        manager_api.post("purchases", {"customer": "M100", "amount": "120.00", "occurred_at": "2025-01-15T12:00:00Z"})
    )
    assert [entry["pointer"] for entry in refused["errors"]] == ["#/occurred_at"]
    assert "closed" in refused["errors"][0]["detail"]
    assert not Transaction.objects.exists()
