"""Geometry of the reports' bar charts, drawn as inline SVG by rewards/_bar_chart.html.

No chart library and no external service: the pages must work offline and print. Each series has a
pattern of its own (solid, hatched, dotted, crossed) so that the chart reads in black and white, and
the template gives the SVG a <title>, a <desc> and a table of the same figures as its text alternative.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Fill patterns defined in the template's <defs>, in the order series use them.
PATTERNS = ("solid", "hatch", "dots", "cross")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str  # "2025-01 earned: 90", the bar's tooltip
    pattern: str


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class AxisLabel:
    x: float
    text: str  # "Jan"
    year: str  # "2025" under the first month and every January, else ""


@dataclass(frozen=True)
class LegendItem:
    x: float
    text_x: float
    name: str
    pattern: str


@dataclass(frozen=True)
class BarChart:
    title: str
    description: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    zero_y: float
    tick_label_x: float
    label_y: float
    year_y: float
    bars: Sequence[Bar]
    ticks: Sequence[Tick]
    months: Sequence[AxisLabel]
    legend: Sequence[LegendItem]
    legend_y: float
    swatch_y: float


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k that is at least `value` (0 stays 0): round axis ends."""
    if value <= 0:
        return 0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def bar_chart(
    months: Sequence[dt.date],
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    width: int = 720,
    height: int = 260,
) -> BarChart:
    """Grouped bars per month: positive values rise from the zero line, negative ones hang below it."""
    left, right, top, bottom = 64.0, 12.0, 12.0, 70.0
    plot_width, plot_height = width - left - right, height - top - bottom
    values = [value for one in series for value in one.values]
    high = nice_ceiling(max([0, *values]))
    low = -nice_ceiling(-min([0, *values]))
    if high == low:  # nothing to draw: keep an axis from 0 to 1
        high = 1
    scale = plot_height / (high - low)
    zero_y = top + high * scale

    group_width = plot_width / max(len(months), 1)
    bar_width = group_width * 0.8 / max(len(series), 1)
    bars = []
    for index, month in enumerate(months):
        group_left = left + index * group_width + group_width * 0.1
        for position, (one, pattern) in enumerate(zip(series, PATTERNS, strict=False)):
            value = one.values[index]
            size = abs(value) * scale
            bars.append(
                Bar(
                    x=round(group_left + position * bar_width, 2),
                    y=round(zero_y - size if value > 0 else zero_y, 2),
                    width=round(bar_width, 2),
                    height=round(size, 2),
                    value=value,
                    label=f"{month:%Y-%m} {one.name.lower()}: {value}",
                    pattern=pattern,
                )
            )
    ticks = [Tick(y=round(zero_y - value * scale, 2), value=value) for value in sorted({high, 0, low}, reverse=True)]
    month_labels = [
        AxisLabel(
            x=round(left + (index + 0.5) * group_width, 2),
            text=f"{month:%b}",
            year=f"{month:%Y}" if index == 0 or month.month == 1 else "",
        )
        for index, month in enumerate(months)
    ]
    legend = [
        LegendItem(x=left + position * 150, text_x=left + position * 150 + 20, name=one.name, pattern=pattern)
        for position, (one, pattern) in enumerate(zip(series, PATTERNS, strict=False))
    ]
    return BarChart(
        title=title,
        description=description,
        width=width,
        height=height,
        plot_left=left,
        plot_right=width - right,
        zero_y=round(zero_y, 2),
        tick_label_x=left - 6,
        label_y=top + plot_height + 16,
        year_y=top + plot_height + 30,
        bars=bars,
        ticks=ticks,
        months=month_labels,
        legend=legend,
        legend_y=height - 14,
        swatch_y=height - 24,
    )
