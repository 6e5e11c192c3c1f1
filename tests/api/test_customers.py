"""GET/POST /api/v1/customers, GET /api/v1/customers/{member_number} and its ledger."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from api.models import ApiKey
from customers.models import Customer
from rewards.models import CarriedPoints, PointsEntry, Tier
from rewards.selectors import default_program
from rewards.services.archive import detach_month
from tests.factories import CLASSIC, CustomerFactory, StoreFactory, at, publish, purchase, refund
from tests.rewards.test_partitions import JANUARY, busy_january

from .conftest import problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("typed", ["M100", "5550102030", "(555) 010-2030", "ANN@example.com", "ann ex"])
def test_find_a_customer_by_member_number_phone_email_or_name_as_at_the_till(staff_api, customer, typed):
    CustomerFactory(name="Someone Else")
    body = staff_api.get("customers", {"q": typed}).json()
    assert [found["member_number"] for found in body["results"]] == ["M100"]
    assert body["results"][0] == {
        "member_number": "M100",
        "name": "Ann Example",
        "email": "ann@example.com",
        "phone": "5550102030",
        "birthday": None,
        "enrolled_at": timezone.localtime(customer.date_joined).isoformat(),
        "home_store": None,
    }
    assert body["more_matches"] is False


def test_a_search_lists_at_most_20_and_says_there_are_more(staff_api):
    CustomerFactory.create_batch(21, name="Jo Many")
    body = staff_api.get("customers", {"q": "Jo Many"}).json()
    assert (len(body["results"]), body["more_matches"]) == (20, True)


def test_a_search_without_q_names_the_parameter(staff_api):
    body = problem(staff_api.get("customers"))
    assert body["errors"] == [{"parameter": "q", "detail": "This field is required."}]


def test_enrol_a_customer_with_a_generated_number_and_the_enrolment_bonus(staff_api):
    publish(CLASSIC | {"bonuses": {"enrolment": 50}}, timezone.now() - dt.timedelta(seconds=1))
    response = staff_api.post(
        "customers", {"name": "Nadia Novak", "email": "nadia@example.com", "phone": "+1 201 555 0100"}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    customer = Customer.objects.get(name="Nadia Novak")
    assert body["member_number"] == customer.member_number and len(customer.member_number) == 10
    assert (body["balance"], customer.phone) == (50, "+12015550100")
    bonus = PointsEntry.objects.get(customer=customer)
    assert bonus.created_by == ApiKey.objects.get().user


def test_enrol_with_a_card_number_a_referrer_a_birthday_and_the_keys_store(make_key, customer):
    elm = StoreFactory(code="elm")
    _, api = make_key("staff", store=elm)
    body = api.post(
        "customers", {"name": "Bo", "member_number": "CARD-9", "referred_by": "M100", "birthday": "1990-05-17"}
    ).json()
    assert (body["member_number"], body["home_store"], body["birthday"]) == ("CARD-9", "elm", "1990-05-17")
    assert Customer.objects.get(member_number="CARD-9").referred_by == customer


def test_enrolment_refusals_are_named_per_field_and_enrol_nobody(staff_api, customer):
    response = staff_api.post(
        "customers",
        {
            "name": "",
            "member_number": "m100",
            "email": "not-an-email",
            "referred_by": "NOBODY",
            "birthday": "2999-01-01",
        },
    )
    errors = {entry["pointer"]: entry["detail"] for entry in problem(response)["errors"]}
    assert set(errors) == {"#/name", "#/email", "#/birthday"}  # the body's own values first
    taken = problem(staff_api.post("customers", {"name": "Twin", "member_number": "m100"}))
    assert taken["errors"] == [{"pointer": "#/member_number", "detail": "Member number m100 is already taken."}]
    referrer = problem(staff_api.post("customers", {"name": "Bo", "referred_by": "NOBODY"}))
    assert referrer["errors"] == [{"pointer": "#/referred_by", "detail": "No customer has the member number NOBODY."}]
    assert Customer.objects.count() == 1


def test_a_customer_reads_with_balance_tier_progress_and_this_months_points(staff_api, customer):
    program = default_program()
    Tier.objects.create(program=program, name="Member", rank=0, threshold=0)
    Tier.objects.create(program=program, name="Gold", rank=1, threshold=500, multiplier=Decimal("1.5"))
    purchase(customer, "120.00", when=at(2025, 1, 10))  # 90, long ago
    recent = purchase(customer, "200.00")  # 250 this month
    refund(recent, "50.00")  # 100 back this month

    body = staff_api.get("customers/M100").json()
    assert body["balance"] == 90 + 250 - 100
    assert body["points_this_month"] == 150
    assert body["tier"] == {
        "name": "Member",
        "since": body["tier"]["since"],
        "points_in_window": 150,
        "window": program.get_tier_window_display(),
        "next_tier": "Gold",
        "points_to_next": 350,
    }
    assert body["expiring_soon"] == {"points": 0, "first_due": None}


def test_a_customer_without_tiers_reads_tier_null_in_a_fixed_number_of_queries(
    staff_api, customer, django_assert_num_queries
):
    purchase(customer, "120.00")
    # key, rate count and stamp (2), customer, points, expiry (3), tiers, the audit event
    with django_assert_num_queries(10):
        body = staff_api.get("customers/M100").json()
    assert body["tier"] is None and body["balance"] == 90


def test_an_unknown_member_number_is_404(staff_api):
    assert problem(staff_api.get("customers/NOPE"))["status"] == 404
    assert problem(staff_api.get("customers/NOPE/ledger"))["status"] == 404


def test_the_ledger_is_newest_first_explained_and_paginated(staff_api, customer):
    first = purchase(customer, "120.00", when=at(2025, 1, 10), receipt="A")
    refund(first, "30.00", when=at(2025, 1, 11))
    for day in range(12, 15):
        purchase(customer, "60.00", when=at(2025, 1, day))

    page = staff_api.get("customers/M100/ledger", {"page_size": 2}).json()
    assert page["count"] == 5
    assert page["next"].endswith("/api/v1/customers/M100/ledger?page=2&page_size=2")
    assert page["previous"] is None
    assert page["archived_months"] == []  # until a month of the customer's is detached
    assert [entry["effective_at"][:10] for entry in page["results"]] == ["2025-01-14", "2025-01-13"]
    last = staff_api.get("customers/M100/ledger", {"page_size": 2, "page": 3}).json()
    assert [entry["kind"] for entry in last["results"]] == ["earn"]
    assert last["results"][0]["explanation"] == "120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90"
    assert last["results"][0]["transaction"]["receipt_number"] == "A"
    second = staff_api.get("customers/M100/ledger", {"page_size": 2, "page": 2}).json()
    assert second["results"][1]["kind"] == "reversal" and second["results"][1]["points"] == -50
    assert problem(staff_api.get("customers/M100/ledger", {"page": 4, "page_size": 2}))["status"] == 404
    refused = problem(staff_api.get("customers/M100/ledger", {"page_size": 1000}))
    assert refused["errors"] == [
        {"parameter": "page_size", "detail": "Ensure this value is less than or equal to 100."}
    ]


def ledger_points(api, member_number: str) -> tuple[int, list[dict]]:
    """The sum of the entries of every page of a customer's ledger, and the archived months of each page."""
    total, archived, path = 0, [], f"customers/{member_number}/ledger"
    params = {"page_size": 2}
    while path:
        page = api.get(path, params).json()
        total += sum(entry["points"] for entry in page["results"])
        archived.append(page["archived_months"])
        path, params = page["next"] and page["next"].split("/api/v1/", 1)[1], None
    return total, archived


def test_the_archived_months_are_on_every_page_and_add_up_with_the_entries_to_the_balance(
    staff_api, customer, django_assert_num_queries
):
    # What detach_month leaves of a customer's December 2024 (PostgreSQL only): its entries gone, their sum carried.
    CarriedPoints.objects.create(customer=customer, month=dt.date(2024, 12, 1), points=120, stamps=0, entries=2)
    CarriedPoints.objects.create(customer=customer, month=dt.date(2024, 11, 1), points=-15, stamps=0, entries=1)
    for day in range(10, 15):
        purchase(customer, "60.00", when=at(2025, 1, day))

    entries, archived = ledger_points(staff_api, "M100")

    assert len(archived) == 3 and archived[0] == archived[1] == archived[2]
    assert archived[0] == [
        {
            "month": "2024-12",
            "points": 120,
            "effective_at": at(2024, 12, 1, 0).isoformat(),
            "title": "December 2024 — archived: 120 points carried",
        },
        {
            "month": "2024-11",
            "points": -15,
            "effective_at": at(2024, 11, 1, 0).isoformat(),
            "title": "November 2024 — archived: -15 points carried",
        },
    ]
    balance = staff_api.get("customers/M100").json()["balance"]
    assert entries + sum(line["points"] for line in archived[0]) == balance == 5 * 10 + 120 - 15  # $60 earns 10
    # key, rate count (2), customer, count, the page's entries, the archived months, the audit event
    with django_assert_num_queries(8):
        assert staff_api.get("customers/M100/ledger", {"page_size": 2}).status_code == 200


@pytest.mark.postgres_only
def test_a_detached_months_carried_line_makes_the_ledger_add_up_to_the_balance_in_as_many_queries(
    staff_api, django_assert_num_queries
):
    ann, _bob, _dan = busy_january()
    path = f"customers/{ann.member_number}/ledger"
    staff_api.get(path)  # the key's first call
    balance = staff_api.get(f"customers/{ann.member_number}").json()["balance"]
    assert ledger_points(staff_api, ann.member_number)[0] == balance
    with django_assert_num_queries(8) as before:
        staff_api.get(path)

    detach_month(JANUARY)

    with django_assert_num_queries(len(before)):
        page = staff_api.get(path).json()
    carried = CarriedPoints.objects.get(customer=ann, month=JANUARY)
    assert page["archived_months"] == [
        {
            "month": "2025-01",
            "points": carried.points,
            "effective_at": at(2025, 1, 1, 0).isoformat(),
            "title": f"January 2025 — archived: {carried.points:,} points carried",
        }
    ]
    entries, _archived = ledger_points(staff_api, ann.member_number)
    assert entries < balance and entries + carried.points == balance
    assert staff_api.get(f"customers/{ann.member_number}").json()["balance"] == balance
