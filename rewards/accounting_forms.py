"""Forms of the accountant's pages. Thin: they parse; the services (rewards.services.books, .valuation) decide,
and their refusals stand beside the field they name."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from .forms import MonthField
from .program_forms import NumberField


class AsOfForm(forms.Form):
    as_of = MonthField(label="At the end of month")

    def __init__(self, data=None, *, default, **kwargs):
        if data is not None and not str(data.get("as_of", "")).strip():
            data = data.copy()
            data["as_of"] = f"{default:%Y-%m}"
        super().__init__(data, initial={"as_of": default}, **kwargs)


class PointValueForm(forms.Form):
    value = NumberField(
        label="Value of one point",
        decimal_places=4,
        max_digits=10,
        help_text="In the shop's currency, up to four decimal places (0.0100 is one cent a point).",
    )
    effective_from = forms.DateTimeField(
        required=False,
        label="From",
        help_text="Leave blank for now; or a later moment. Never the past: entries keep the value of their moment.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = forms.CharField(max_length=200, required=False, label="Why (shown in the history)")


class BreakageEstimateForm(forms.Form):
    rate = NumberField(
        required=False,
        label="Expected breakage (%)",
        decimal_places=2,
        max_digits=5,
        help_text="The share of points you expect never to be used, 0 to 99. Leave blank to use the observed rate.",
    )
    effective_month = MonthField(label="From month", help_text="An open month; it applies until the next estimate.")
    reason = forms.CharField(max_length=200, label="Basis of the estimate", help_text="e.g. the study or history used.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rate"].widget.attrs.update(min=0, max=99, step="0.01")

    def clean_rate(self) -> Decimal | None:
        return self.cleaned_data.get("rate")


class CloseMonthForm(forms.Form):
    month = MonthField(label="Month to close")


class ReopenMonthForm(forms.Form):
    month = MonthField(label="Month to reopen", widget=forms.HiddenInput)
    reason = forms.CharField(
        max_length=300, label="Why it must be reopened", widget=forms.Textarea(attrs={"rows": 2}), required=True
    )
