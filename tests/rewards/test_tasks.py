"""The daily jobs the background worker schedules: when they run (the merchant's clock) and what they do."""

import datetime as dt

import pytest
from django.conf import settings
from django.test import override_settings

from rewards.models import ExpiryPolicy, PointsEntry
from rewards.selectors import default_program
from rewards.tasks import award_birthday_bonuses_daily, expire_points_daily, review_tiers_daily
from tests.factories import CustomerFactory, at, purchase


def local(hour: int, minute: int) -> dt.datetime:
    # huey runs with utc=False: periodic tasks are checked against the process's local wall clock (TIME_ZONE).
    return dt.datetime(2025, 6, 1, hour, minute)


@pytest.mark.parametrize(
    ("job", "hour", "minute"),
    [(expire_points_daily, 1, 0), (review_tiers_daily, 1, 5), (award_birthday_bonuses_daily, 1, 10)],
)
def test_each_daily_job_runs_once_a_day_at_its_local_time(job, hour, minute):
    due = [local(h, m) for h in range(24) for m in range(60) if job.task_class().validate_datetime(local(h, m))]
    assert due == [local(hour, minute)]


def test_the_worker_keeps_the_merchants_clock():
    assert settings.HUEY["utc"] is False


@pytest.mark.django_db
@override_settings(TIME_ZONE="America/New_York")
def test_the_expiry_job_posts_what_lapsed(manager, monkeypatch):
    ExpiryPolicy.objects.create(
        program=default_program(),
        effective_month=dt.date(2024, 1, 1),
        kind="after_months",
        months=1,
        changed_by=manager,
    )
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 10))
    # The job expires up to today; January's points lapsed on March 1st.
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: dt.date(2025, 3, 2))
    assert expire_points_daily.call_local() == 1
    assert PointsEntry.objects.filter(customer=customer, kind="expiry").values_list("points", flat=True).get() == -90
    # A second run the same day posts nothing more.
    assert expire_points_daily.call_local() == 0
