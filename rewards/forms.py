"""The period picker of the managers' pages: a start month (YYYY-MM) and a number of months.

One form for the reports, the what-if simulator and the recalculation: one month field, one parser
(rewards.calendar.parse_month, which the command line uses too).
"""

from __future__ import annotations

import datetime as dt

from django import forms

from .calendar import add_months, parse_month
from .local_time import current_month

MAX_MONTHS = 24
# Months far outside the program's life would only overflow the date arithmetic (year 1, year 9999).
FIRST_YEAR, LAST_YEAR = 1900, 2999


class MonthField(forms.CharField):
    """A calendar month typed as YYYY-MM; its value is the month's first day."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM", "pattern": r"\d{4}-\d{2}"})

    def to_python(self, value) -> dt.date | None:
        if isinstance(value, dt.date):
            return value.replace(day=1)
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            month = parse_month(text)
        except ValueError:
            raise forms.ValidationError(
                "“%(value)s” is not a month. Enter a month as YYYY-MM, e.g. 2025-01 (the month must be 01 to 12).",
                code="invalid_month",
                params={"value": text[:20]},
            ) from None
        if not FIRST_YEAR <= month.year <= LAST_YEAR:
            raise forms.ValidationError(f"Choose a month from {FIRST_YEAR}-01 to {LAST_YEAR}-12.", code="out_of_range")
        return month

    def prepare_value(self, value):
        return f"{value:%Y-%m}" if isinstance(value, dt.date) else value


class PeriodForm(forms.Form):
    """A period of whole calendar months. Bound to the request's data; a missing or empty field takes the
    page's default (e.g. the last three complete months). `past_only` refuses a period that ends after
    this month (what has not happened cannot be replayed)."""

    start = MonthField(label="From month")
    months = forms.IntegerField(label="Months", widget=forms.NumberInput(attrs={"min": 1}))

    def __init__(
        self,
        data=None,
        *,
        default_start: dt.date,
        default_months: int,
        max_months: int = MAX_MONTHS,
        past_only: bool = False,
        **kwargs,
    ):
        self.past_only = past_only
        if data is None:  # unbound: the defaults are the initial values
            kwargs["initial"] = {"start": default_start, "months": default_months, **kwargs.get("initial", {})}
        else:
            # Fill in the defaults, so that the picker shows the period on display.
            data = data.copy()
            if not str(data.get("start", "")).strip():
                data["start"] = f"{default_start:%Y-%m}"
            if not str(data.get("months", "")).strip():
                data["months"] = str(default_months)
        super().__init__(data, **kwargs)
        choose = f"Choose from 1 to {max_months} months."
        months = self.fields["months"]
        months.widget.attrs["max"] = max_months
        months.error_messages = {
            **months.error_messages,
            "min_value": choose,
            "max_value": choose,
            "invalid": f"Enter a whole number of months, from 1 to {max_months}.",
        }
        months.validators = [*months.validators, _between(1, max_months, choose)]

    def clean(self):
        cleaned = super().clean()
        start, months = cleaned.get("start"), cleaned.get("months")
        if self.past_only and start and months and add_months(start, months) > add_months(current_month(), 1):
            self.add_error("start", "The period must be in the past (it may include this month).")
        return cleaned

    def period(self) -> tuple[dt.date, int]:
        """(start, months) of a valid form."""
        return self.cleaned_data["start"], self.cleaned_data["months"]


def _between(low: int, high: int, message: str):
    def validate(value: int) -> None:
        if not low <= value <= high:
            raise forms.ValidationError(message, code="out_of_range")

    return validate


def shifted(start: dt.date, months: int, direction: int) -> str:
    """The start month of the previous (-1) or next (+1) period of the same length, as YYYY-MM."""
    return f"{add_months(start, direction * months):%Y-%m}"
