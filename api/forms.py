from django import forms

from transactions.models import Store

from .models import ApiKey

_EXPIRED = "This form has expired: check the values and submit again."


class NewKeyForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What will use the key, e.g. “Web shop” or “Till 3 (point of sale)”.",
        error_messages={"required": "Name the key after what will use it."},
    )
    role = forms.ChoiceField(
        label="Rights",
        choices=ApiKey.Role.choices,
        initial=ApiKey.Role.STAFF,
        help_text="Store staff: find and enrol customers, purchases, refunds, rewards. Manager: also the reports.",
    )
    store = forms.ModelChoiceField(
        label="Store",
        queryset=Store.objects.filter(is_active=True).order_by("name"),
        required=False,
        empty_label="Any store",
        help_text="A key bound to a store records there only; with any store, each request names its store.",
        error_messages={"invalid_choice": "Choose a store from the list."},
    )
    # One per rendered form: resubmitting it (a refresh, a double click) creates no second key.
    form_key = forms.UUIDField(widget=forms.HiddenInput, error_messages={"required": _EXPIRED, "invalid": _EXPIRED})
