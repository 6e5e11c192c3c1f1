"""The audit log page's filters (django-filter), applied in SQL. Days are the merchant's (TIME_ZONE)."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.db.models import Q

from rewards.local_time import local_midnight

from .events import Event
from .models import AuditEvent


class AddressFilter(django_filters.Filter):
    """An IP address, validated before it reaches the database (PostgreSQL's inet refuses anything else)."""

    field_class = forms.GenericIPAddressField


class AuditEventFilter(django_filters.FilterSet):
    event = django_filters.ChoiceFilter(label="Event", choices=Event.choices, empty_label="All events")
    who = django_filters.CharFilter(
        label="Who", method="filter_who", widget=forms.TextInput(attrs={"placeholder": "Username", "type": "search"})
    )
    about = django_filters.CharFilter(
        label="About",
        field_name="object_repr",
        lookup_expr="icontains",
        widget=forms.TextInput(attrs={"placeholder": "Account, customer, receipt…", "type": "search"}),
    )
    since = django_filters.DateFilter(
        label="From", method="filter_since", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = django_filters.DateFilter(label="To", method="filter_until", widget=forms.DateInput(attrs={"type": "date"}))
    address = AddressFilter(label="Address", field_name="remote_addr")

    class Meta:
        model = AuditEvent
        fields = ()

    def filter_who(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(actor_username__icontains=value) | Q(actor__username__icontains=value))

    def filter_since(self, queryset, name, value: dt.date):
        return queryset.filter(timestamp__gte=local_midnight(value))

    def filter_until(self, queryset, name, value: dt.date):
        return queryset.filter(timestamp__lt=local_midnight(value + dt.timedelta(days=1)))
