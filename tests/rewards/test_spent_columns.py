"""The monthly report's and the glance page's redeemed, expired and adjusted columns, and the liability in money."""

import datetime as dt
from decimal import Decimal

import pytest

from rewards.models import ExpiryPolicy
from rewards.selectors import default_program, monthly_points, point_value_at, program_by_month
from rewards.services.adjustments import request_adjustment
from rewards.services.expiry import expire_points
from rewards.services.redemption import redeem
from tests.factories import CustomerFactory, RewardFactory, at, default_store, purchase

pytestmark = pytest.mark.django_db


@pytest.fixture
def movements(manager, staff):
    """Ann: earns 90 in January, redeems 50 in February, gets +5 adjusted in February.
    Bob: earns 90 in January under a one-month expiry; it lapses when March begins."""
    ann, bob = CustomerFactory(member_number="A1", name="Ann"), CustomerFactory(member_number="B1", name="Bob")
    purchase(ann, "120.00", when=at(2025, 1, 5))
    redeem(
        customer=ann,
        reward=RewardFactory(points_cost=50),
        store=default_store(),
        redeemed_by=staff,
        moment=at(2025, 2, 3),
    )
    request_adjustment(customer=ann, points=5, reason="goodwill", requested_by=manager, moment=at(2025, 2, 4))
    ExpiryPolicy.objects.create(
        program=default_program(),
        effective_month=dt.date(2025, 1, 1),
        kind="after_months",
        months=1,
        changed_by=manager,
    )
    # Ann's January lot lapses too: 90 - 50 spent = 40 left when March begins.
    purchase(bob, "120.00", when=at(2025, 1, 6))
    expire_points(day=dt.date(2025, 3, 1))
    return ann, bob


def test_the_monthly_report_gains_redeemed_expired_and_adjusted_per_customer_and_in_total(movements):
    report = monthly_points(start=dt.date(2025, 1, 1), months=3)
    rows = {row["member_number"]: row for row in report.rows}
    assert {k: rows["A1"][k] for k in ("total", "redeemed", "expired", "adjusted")} == {
        "total": 90,
        "redeemed": -50,
        "expired": -40,
        "adjusted": 5,
    }
    assert {k: rows["B1"][k] for k in ("total", "redeemed", "expired", "adjusted")} == {
        "total": 90,
        "redeemed": 0,
        "expired": -90,
        "adjusted": 0,
    }
    count, totals = report.count_and_totals()
    assert count == 2
    assert (totals["total"], totals["redeemed"], totals["expired"], totals["adjusted"]) == (180, -50, -130, 5)
    assert report.totals() == totals


def test_the_report_page_shows_the_columns_and_their_footer(manager_client, movements):
    html = manager_client.get("/reports/points/", {"start": "2025-01", "months": "3"}).content.decode()
    head = html.split('id="monthly-points"', 1)[1].split("</thead>", 1)[0]
    assert "Redeemed" in head and "Expired" in head and "Adjusted" in head
    tfoot = html.split("<tfoot", 1)[1].split("</tfoot>", 1)[0]
    assert ">-50<" in tfoot and ">-130<" in tfoot and ">5<" in tfoot


def test_the_glance_page_shows_redeemed_expired_adjusted_and_the_liability_in_points_and_money(
    manager_client, movements
):
    assert point_value_at() == Decimal("0.0100")  # the first version, from the migration
    by_month = {row.month: row for row in program_by_month(start=dt.date(2025, 1, 1), months=3)}
    assert (by_month[dt.date(2025, 2, 1)].redeemed, by_month[dt.date(2025, 2, 1)].adjusted) == (-50, 5)
    assert by_month[dt.date(2025, 3, 1)].expired == -130
    response = manager_client.get("/reports/", {"start": "2025-01", "months": "3"})
    html = response.content.decode()
    assert "Adjusted" in html
    # 180 earned - 50 redeemed + 5 adjusted - 130 expired = 5 points, at 0.01 a point.
    assert response.context["outstanding"] == 5
    assert response.context["liability"] == Decimal("0.05")
