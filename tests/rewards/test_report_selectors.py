"""The selectors behind the managers' reports (rewards/selectors.py), on the record of test_views."""

import pytest

from rewards.selectors import monthly_points
from tests.factories import at
from tests.rewards.test_views import new_york, record  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"search": "b"},
        {"search": "nobody"},
        {"min_total": 30},
        {"min_total": 30, "search": "a"},
        {"store": True},
        {"store": True, "min_total": 100},
    ],
)
def test_count_and_totals_agree_with_the_rows_and_totals(record, filters, django_assert_num_queries):  # noqa: F811
    if filters.pop("store", False):
        filters["store_id"] = record["harbour"].pk
    report = monthly_points(start=at(2025, 1, 1).date(), months=3, **filters)
    rows = list(report.rows)
    with django_assert_num_queries(1):
        count, totals = report.count_and_totals()
    assert count == len(rows)
    assert totals == report.totals()
    assert totals["total"] == sum(row["total"] for row in rows)
    for column in report.months:
        assert totals[column.key] == sum(row[column.key] for row in rows)
