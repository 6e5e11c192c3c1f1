"""The period picker of the managers' reports: a start month (YYYY-MM) and a number of months."""

from __future__ import annotations

import datetime as dt
import re

from django import forms

from .selectors import add_months

MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
MAX_MONTHS = 24
# Months far outside the program's life would only overflow the date arithmetic (year 1, year 9999).
FIRST_YEAR, LAST_YEAR = 1900, 2999


def parse_month(text: str) -> dt.date:
    """'2025-01' -> date(2025, 1, 1). Raises ValueError for anything else, e.g. '2025-13' or '2025-1-01'."""
    match = MONTH_PATTERN.match(text.strip())
    if not match:
        raise ValueError(text)
    year, month = int(match.group(1)), int(match.group(2))
    if not (1 <= month <= 12 and year >= 1):
        raise ValueError(text)
    return dt.date(year, month, 1)


class PeriodForm(forms.Form):
    """Bound to request.GET; a missing or empty field takes the page's default (e.g. the last three complete months)."""

    start = forms.CharField(
        label="From month",
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM", "pattern": r"\d{4}-\d{2}"}),
    )
    months = forms.IntegerField(
        label="Months",
        min_value=1,
        max_value=MAX_MONTHS,
        error_messages={
            "min_value": f"Choose from 1 to {MAX_MONTHS} months.",
            "max_value": f"Choose from 1 to {MAX_MONTHS} months.",
            "invalid": f"Enter a whole number of months, from 1 to {MAX_MONTHS}.",
        },
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_MONTHS}),
    )

    def __init__(self, data, *, default_start: dt.date, default_months: int):
        self.default_start, self.default_months = default_start, default_months
        # Fill in the defaults, so that the picker shows the period on display.
        data = data.copy()
        if not data.get("start", "").strip():
            data["start"] = f"{default_start:%Y-%m}"
        if not data.get("months", "").strip():
            data["months"] = str(default_months)
        super().__init__(data)

    def clean_start(self) -> dt.date:
        text = self.cleaned_data.get("start") or ""
        try:
            return parse_month(text)
        except ValueError:
            raise forms.ValidationError(
                "“%(value)s” is not a month. Enter a month as YYYY-MM, e.g. 2025-01 (the month must be 01 to 12).",
                code="invalid_month",
                params={"value": text[:20]},
            ) from None

    def clean(self):
        cleaned = super().clean()
        start = cleaned.get("start")
        if start and not (FIRST_YEAR <= start.year <= LAST_YEAR):
            self.add_error("start", f"Choose a month from {FIRST_YEAR}-01 to {LAST_YEAR}-12.")
        return cleaned

    def period(self) -> tuple[dt.date, int]:
        """(start, months) of a valid form."""
        return self.cleaned_data["start"], self.cleaned_data["months"]


def shifted(start: dt.date, months: int, direction: int) -> str:
    """The start month of the previous (-1) or next (+1) period of the same length, as YYYY-MM."""
    return f"{add_months(start, direction * months):%Y-%m}"
