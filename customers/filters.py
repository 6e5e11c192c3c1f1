"""The filters of the managers' customer list. They narrow the annotated queryset of
`customers.selectors.customer_list` in SQL (a page and its count are two queries whatever the filters)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from loyalty_site.forms import DateInput
from rewards.models import Tier
from transactions.models import Store

from .models import Customer
from .phones import stored_forms

NO_TIER = "none"


class CustomerListFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Member",
        method="filter_text",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Number, name, phone or email"}),
    )
    tier = django_filters.ChoiceFilter(label="Tier", method="filter_tier", empty_label="Any tier")
    home_store = django_filters.ModelChoiceFilter(
        label="Home store", queryset=Store.objects.order_by("name"), empty_label="Any store"
    )
    min_balance = django_filters.NumberFilter(
        label="Balance at least",
        field_name="balance",
        lookup_expr="gte",
        widget=forms.NumberInput(attrs={"step": 1, "inputmode": "numeric"}),
    )
    visited_since = django_filters.DateFilter(
        label="Visited since", method="filter_visited_since", widget=DateInput()
    )
    not_visited_since = django_filters.DateFilter(
        label="Not seen since", method="filter_not_visited_since", widget=DateInput()
    )

    class Meta:
        model = Customer
        fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tiers = list(Tier.objects.filter(program__is_default=True).order_by("rank").values_list("pk", "name"))
        self.filters["tier"].extra["choices"] = [(NO_TIER, "No tier"), *((str(pk), name) for pk, name in tiers)]

    def filter_text(self, queryset, name, value):
        text = value.strip()
        if not text:
            return queryset
        # The trigram indexes of customers 0005 serve these on PostgreSQL, as they serve the till's search.
        query = Q(member_number__istartswith=text) | Q(name__icontains=text) | Q(email__icontains=text)
        if phones := stored_forms(text):
            query |= Q(phone__in=phones) | Q(phone__contains=phones[-1])
        return queryset.filter(query)

    def filter_tier(self, queryset, name, value):
        if value == NO_TIER:
            return queryset.filter(tier_status__isnull=True)
        return queryset.filter(tier_status__tier_id=value)

    def filter_visited_since(self, queryset, name, value):
        return queryset.filter(last_visit__date__gte=value)

    def filter_not_visited_since(self, queryset, name, value):
        return queryset.filter(Q(last_visit__isnull=True) | Q(last_visit__date__lt=value))
