"""The monthly points report's filters. They validate the request; the selector does the filtering in SQL.

The report's rows are grouped per customer, and a store filter changes what is grouped (the ledger of
that store's transactions instead of the roll-up), so the cleaned values are handed to
`monthly_points(...)` rather than applied to its result.
"""

from __future__ import annotations

import django_filters
from django import forms

from transactions.models import Store

from .models import CustomerMonthPoints


class WholeNumberFilter(django_filters.NumberFilter):
    """Whole points only: totals are sums of integer points."""

    field_class = forms.IntegerField


class MonthlyPointsFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        label="Customer",
        method="keep",
        widget=forms.TextInput(attrs={"placeholder": "Member number or name", "type": "search"}),
    )
    store = django_filters.ModelChoiceFilter(
        label="Store", queryset=Store.objects.order_by("name"), empty_label="All stores", method="keep"
    )
    min_total = WholeNumberFilter(
        label="Minimum total",
        method="keep",
        widget=forms.NumberInput(attrs={"step": 1}),
    )

    class Meta:
        model = CustomerMonthPoints  # nominal: the selector reads the roll-up or the ledger itself
        fields = ()

    def keep(self, queryset, name, value):
        return queryset

    def selector_arguments(self) -> dict:
        """Keyword arguments for `monthly_points` from the validated form (call after `is_valid()`)."""
        data = self.form.cleaned_data
        store = data.get("store")
        return {
            "search": (data.get("search") or "").strip() or None,
            "store_id": store.pk if store else None,
            "min_total": data.get("min_total"),
        }
