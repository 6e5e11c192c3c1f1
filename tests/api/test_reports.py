"""GET /api/v1/reports/points: the managers' report (the page's and the command's selector), JSON or CSV."""

import csv
import io
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from tests.factories import CustomerFactory, StoreFactory, at, purchase, refund

from .conftest import problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(db):
    """Hand-checked, as tests/rewards/test_points_report.py: A1 90, 25, -40 (75); B2 0, 250, 0 (250); C3 zeros."""
    oak = StoreFactory(code="oak", name="Oak")
    ann, bob, cy = (
        CustomerFactory(member_number=n, name=name) for n, name in [("A1", "Ann"), ("B2", "Bob"), ("C3", "Cy")]
    )
    first = purchase(ann, "120.00", when=at(2025, 1, 5))
    purchase(bob, "49.99", when=at(2025, 1, 6))
    purchase(ann, "75.99", when=at(2025, 2, 7))
    purchase(bob, "200.00", when=at(2025, 2, 8), store=oak)
    purchase(cy, "30.00", when=at(2025, 3, 9))
    refund(first, "20.00", when=at(2025, 3, 10))
    purchase(CustomerFactory(member_number="D4"), "500.00", when=at(2024, 12, 31))


def query_of(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert parts.path == "/api/v1/reports/points"
    return dict(parse_qsl(parts.query))


def row(member_number, name, points, total):
    months = ["2025-01", "2025-02", "2025-03"]
    return {
        "member_number": member_number,
        "name": name,
        "by_month": [{"month": month, "points": value} for month, value in zip(months, points, strict=True)],
        "total": total,
        "redeemed": 0,
        "expired": 0,
        "adjusted": 0,
    }


def test_the_report_answers_each_customers_months_and_the_totals_of_the_whole_result(manager_api, record):
    body = manager_api.get("reports/points", {"start": "2025-01", "months": 3, "page_size": 2}).json()

    assert (body["start"], body["months"], body["count"]) == ("2025-01", ["2025-01", "2025-02", "2025-03"], 3)
    assert body["results"] == [row("A1", "Ann", [90, 25, -40], 75), row("B2", "Bob", [0, 250, 0], 250)]
    totals = row("", "", [90, 275, -40], 325)
    del totals["member_number"], totals["name"]
    assert body["totals"] == totals
    assert query_of(body["next"]) == {"start": "2025-01", "months": "3", "page_size": "2", "page": "2"}
    second = manager_api.get("reports/points", {"start": "2025-01", "months": 3, "page_size": 2, "page": 2}).json()
    assert second["results"] == [row("C3", "Cy", [0, 0, 0], 0)]
    assert query_of(second["previous"]) == {"start": "2025-01", "months": "3", "page_size": "2"}


def test_filters_by_store_customer_and_minimum_total(manager_api, record):
    by_store = manager_api.get("reports/points", {"start": "2025-01", "store": "oak"}).json()
    assert by_store["results"] == [row("B2", "Bob", [0, 250, 0], 250)]
    searched = manager_api.get("reports/points", {"start": "2025-01", "q": "an"}).json()
    assert [found["member_number"] for found in searched["results"]] == ["A1"]
    rich = manager_api.get("reports/points", {"start": "2025-01", "min_total": 100}).json()
    assert [found["member_number"] for found in rich["results"]] == ["B2"]


def test_accept_text_csv_gives_the_commands_csv_of_the_whole_result_and_is_audited(manager_api, record):
    response = manager_api.get("reports/points", {"start": "2025-01", "page_size": 1}, accept="text/csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="monthly-points-2025-01-3m.csv"' in response["Content-Disposition"]
    command = io.StringIO()
    call_command("points_report", "--start", "2025-01", stdout=command)
    assert response.content.decode() == command.getvalue()
    assert list(csv.reader(io.StringIO(response.content.decode())))[1] == ["A1", "Ann", "90", "25", "-40", "75"]
    export = AuditEvent.objects.get(event="export", actor__isnull=False)  # the command records one too
    assert export.actor.api_key.name == "manager key"
    assert export.additional_data["file"] == "monthly-points-2025-01-3m.csv"


def test_refused_parameters_are_named(manager_api):
    body = problem(manager_api.get("reports/points", {"start": "2025-13", "months": 25, "store": "nowhere"}))
    assert {entry["parameter"] for entry in body["errors"]} == {"start", "months"}
    unknown = problem(manager_api.get("reports/points", {"store": "nowhere"}))
    assert unknown["errors"] == [{"parameter": "store", "detail": "No store has the code nowhere."}]


def test_without_start_the_last_three_complete_months(manager_api):
    body = manager_api.get("reports/points").json()
    assert len(body["months"]) == 3 and body["count"] == 0 and body["results"] == []


def test_the_report_runs_a_fixed_number_of_queries(manager_api, record, django_assert_num_queries):
    # key, rate count and stamp (2), the count and totals, the page, the audit event
    with django_assert_num_queries(6):
        manager_api.get("reports/points", {"start": "2025-01"})
