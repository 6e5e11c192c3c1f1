"""The point value's history and the breakage estimate (rewards.services.valuation)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from rewards.calendar import EARLIEST_MOMENT
from rewards.models import BreakageEstimate, PointValue, StoreMonthPoints
from rewards.selectors import point_value_at, point_value_versions
from rewards.services.liability import prove_liability
from rewards.services.valuation import set_breakage_estimate, set_point_value
from tests.factories import CustomerFactory, purchase

pytestmark = pytest.mark.django_db


def test_the_programs_value_became_the_first_version_from_the_earliest_moment():
    [first] = point_value_versions()
    assert (first.effective_from, first.value) == (EARLIEST_MOMENT, Decimal("0.0100"))
    assert point_value_at() == Decimal("0.0100")


def test_a_new_value_starts_now_and_entries_keep_the_value_of_their_moment(manager):
    customer = CustomerFactory()
    purchase(customer, "120.00")  # 90 points at 0.01
    version = set_point_value(value=Decimal("0.0250"), set_by=manager, note="richer rewards")
    assert version.effective_from <= timezone.now()
    assert version.effective_from > customer.points_entries.get().effective_at
    purchase(customer, "120.00")  # 90 points at 0.025
    values = dict(StoreMonthPoints.objects.values_list("point_value__value", "points"))
    assert values == {Decimal("0.0100"): 90, Decimal("0.0250"): 90}
    assert point_value_at() == Decimal("0.0250")
    assert prove_liability().ok
    event = AuditEvent.objects.get(event="point_value_set")
    assert event.changes == {"point value": ["0.0100", "0.0250"]}


def test_a_later_start_is_scheduled(manager):
    later = timezone.now() + dt.timedelta(days=10)
    set_point_value(value=Decimal("0.02"), set_by=manager, effective_from=later)
    assert point_value_at() == Decimal("0.0100")
    assert point_value_at(later) == Decimal("0.0200")


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (Decimal(0), "value", "more than 0"),
        (Decimal("-1"), "value", "more than 0"),
        (Decimal("0.00001"), "value", "four decimal places"),
        (Decimal("1000000"), "value", "cannot be more than"),
    ],
)
def test_a_value_that_cannot_be_is_refused_beside_its_field(manager, value, field, message):
    with pytest.raises(ValidationError) as refused:
        set_point_value(value=value, set_by=manager)
    assert message in refused.value.message_dict[field][0]
    assert PointValue.objects.count() == 1


def test_a_value_never_starts_in_the_past(manager):
    with pytest.raises(ValidationError) as refused:
        set_point_value(value=Decimal("0.02"), set_by=manager, effective_from=timezone.now() - dt.timedelta(hours=1))
    assert "cannot start in the past" in refused.value.message_dict["effective_from"][0]


def test_a_value_starting_now_comes_after_an_entry_the_clock_skew_put_ahead(manager):
    customer = CustomerFactory()
    ahead = timezone.now() + dt.timedelta(seconds=60)
    purchase(customer, "120.00", when=ahead)
    version = set_point_value(value=Decimal("0.02"), set_by=manager)
    assert version.effective_from == ahead + dt.timedelta(microseconds=1)
    assert prove_liability().ok


def test_the_breakage_estimate_is_kept_with_its_reason_and_replaced_within_its_month(manager):
    month = dt.date(2025, 3, 1)
    set_breakage_estimate(rate=Decimal("12.5"), reason="two years of history", set_by=manager, effective_month=month)
    set_breakage_estimate(rate=None, reason="back to what we observe", set_by=manager, effective_month=month)
    [estimate] = BreakageEstimate.objects.all()
    assert (estimate.rate, estimate.reason) == (None, "back to what we observe")
    events = AuditEvent.objects.filter(event="breakage_estimate_set").order_by("pk")
    assert [event.changes["breakage estimate from 2025-03"] for event in events] == [
        ["observed", "12.50%"],
        ["12.50%", "observed"],
    ]


@pytest.mark.parametrize(
    ("rate", "reason", "field"),
    [(Decimal(100), "x", "rate"), (Decimal("-1"), "x", "rate"), (Decimal("1.234"), "x", "rate"), (None, " ", "reason")],
)
def test_an_estimate_that_cannot_be_is_refused_beside_its_field(manager, rate, reason, field):
    with pytest.raises(ValidationError) as refused:
        set_breakage_estimate(rate=rate, reason=reason, set_by=manager, effective_month=dt.date(2025, 3, 1))
    assert field in refused.value.message_dict
    assert not BreakageEstimate.objects.exists()


def test_a_program_added_in_the_admin_starts_with_a_point_value(owner, client):
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    response = client.post("/admin/rewards/program/add/", {"name": "Second program"})
    assert response.status_code == 302
    [version] = PointValue.objects.filter(program__name="Second program")
    assert (version.effective_from, version.value, version.set_by) == (EARLIEST_MOMENT, Decimal("0.0100"), owner)
