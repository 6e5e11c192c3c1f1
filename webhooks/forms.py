from django import forms

from events.models import EventType


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        widget=forms.URLInput(
            attrs={"placeholder": "https://shop.example.com/loyalty/webhooks", "autocomplete": "off"}
        ),
        help_text="Where each event is POSTed as JSON, signed with the endpoint's secret.",
    )
    description = forms.CharField(
        max_length=200, required=False, help_text="Optional: which system this is, e.g. “Web shop”."
    )
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=[(value, f"{value}: {label}") for value, label in EventType.choices],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )
