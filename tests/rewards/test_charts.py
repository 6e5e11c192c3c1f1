"""The geometry of the reports' bar charts (rewards/charts.py): pure Python, no database."""

import datetime as dt

import pytest

from rewards.charts import Series, bar_chart, nice_ceiling

MONTHS = [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)]


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (1, 1), (3, 5), (90, 100), (100, 100), (101, 200), (6001, 10000)]
)
def test_nice_ceiling(value, expected):
    assert nice_ceiling(value) == expected


def test_positive_bars_rise_from_the_zero_line_and_negative_ones_hang_below_it():
    chart = bar_chart(
        MONTHS,
        [Series("Earned", [90, 25, 0]), Series("Reversed", [0, -50, 0])],
        title="t",
        description="d",
        width=720,
        height=260,
    )
    earned, reversed_ = chart.bars[0], chart.bars[3]
    assert (earned.value, reversed_.value) == (90, -50)
    assert earned.y + earned.height == pytest.approx(chart.zero_y)
    assert reversed_.y == pytest.approx(chart.zero_y)
    # The axis runs from -50 to 100 on one scale: 90 points are 1.8 times as tall as 50.
    assert [tick.value for tick in chart.ticks] == [100, 0, -50]
    assert earned.height == pytest.approx(reversed_.height * 90 / 50, rel=1e-3)
    assert earned.pattern == "solid" and reversed_.pattern == "hatch"
    assert earned.label == "2025-01 earned: 90"
    # Bars stay inside the drawing.
    for bar in chart.bars:
        assert chart.plot_left <= bar.x and bar.x + bar.width <= chart.plot_right
        assert bar.y >= 0 and bar.y + bar.height <= chart.height
    assert [(label.text, label.year) for label in chart.months] == [("Jan", "2025"), ("Feb", ""), ("Mar", "")]


def test_the_year_is_written_under_the_first_month_and_every_january():
    months = [dt.date(2024, 11, 1), dt.date(2024, 12, 1), dt.date(2025, 1, 1), dt.date(2025, 2, 1)]
    chart = bar_chart(months, [Series("Earned", [1, 2, 3, 4])], title="t", description="d")
    assert [label.year for label in chart.months] == ["2024", "", "2025", ""]


def test_an_empty_chart_still_has_an_axis():
    chart = bar_chart(MONTHS, [Series("Earned", [0, 0, 0])], title="t", description="d")
    assert [tick.value for tick in chart.ticks] == [1, 0]
    assert all(bar.height == 0 for bar in chart.bars)
