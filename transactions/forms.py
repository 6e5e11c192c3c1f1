"""The till's forms: they parse what a cashier typed; the views call the services."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from customers.selectors import with_member_number

from .amounts import AmountError, parse_amount
from .models import Store

_EXPIRED = "This form has expired: check the values and submit again."
EXPIRED_KEY = {"required": _EXPIRED, "invalid": _EXPIRED}


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError beside the form's fields it names; the rest above the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields and field != NON_FIELD_ERRORS else None, errors)
    else:
        form.add_error(None, error)


class AmountField(forms.CharField):
    """Money as typed at the till: '12.50'. Parsed by `parse_amount`, never through float."""

    default_error_messages = {"required": "Type the amount, like 12.50."}

    def __init__(self, **kwargs):
        # No max_length: the parser refuses absurd sizes with a message, where maxlength would silently cut.
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "class": "amount"})
        )
        super().__init__(**kwargs)

    def to_python(self, value) -> Decimal | None:
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return parse_amount(text)
        except AmountError as exc:
            raise ValidationError(f"{exc}.", code="invalid") from exc

    def prepare_value(self, value):
        return f"{value:.2f}" if isinstance(value, Decimal) else value


class PurchaseForm(forms.Form):
    """Customer, amount, receipt number; the store and the moment for managers only.

    Store staff get neither field, so a store or a moment they post is ignored: the till records at
    their remembered store, now.
    """

    customer = forms.CharField(
        label="Customer",
        max_length=200,
        required=False,
        help_text="Member number, phone, email or name.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "list": "customer-suggestions", "spellcheck": "false"}),
    )
    amount = AmountField(label="Amount")
    receipt_number = forms.CharField(
        label="Receipt number",
        max_length=64,
        required=False,
        help_text="Leave blank to generate one.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    store = forms.ModelChoiceField(
        label="Store",
        queryset=Store.objects.none(),
        required=False,  # none posted: the remembered store
        empty_label=None,
        error_messages={"invalid_choice": "Choose a store from the list."},
    )
    occurred_at = forms.DateTimeField(
        label="When",
        required=False,
        help_text="Leave blank for now. Only managers can back-date a purchase.",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Type a date and time like 2025-01-31 14:30."},
    )
    # A fresh one per rendered form: a resubmission of the same form finds the purchase it recorded.
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput, error_messages=EXPIRED_KEY)

    def __init__(self, *args, manager: bool, stores=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.manager = manager
        if manager:
            field = self.fields["store"]
            field.queryset = stores if stores is not None else Store.objects.filter(is_active=True)
            # Evaluated once: rendering the select would otherwise run the query more than once.
            field.choices = list(iter(field.choices))  # iter(): no COUNT query for a length hint
        else:
            del self.fields["store"]
            del self.fields["occurred_at"]

    def clean_customer(self) -> str:
        return self.cleaned_data["customer"].strip()

    def clean_receipt_number(self) -> str:
        return self.cleaned_data["receipt_number"].strip()

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise ValidationError("Amount must be more than 0.00.", code="zero")
        return amount


class EnrolForm(forms.Form):
    """Enrol a new member in one step from the till; the purchase typed so far rides along in hidden fields."""

    name = forms.CharField(label="Name", max_length=200, error_messages={"required": "Type the new member's name."})
    phone = forms.CharField(label="Phone", max_length=32, required=False, widget=forms.TextInput(attrs={"type": "tel"}))
    email = forms.EmailField(
        label="Email", required=False, error_messages={"invalid": "Email must look like name@example.com."}
    )
    member_number = forms.CharField(
        label="Member number",
        max_length=32,
        required=False,
        help_text="Leave blank to generate one, or type the number on the member's card.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_member_number(self) -> str:
        number = self.cleaned_data["member_number"].strip()
        if number and with_member_number(number).exists():
            raise ValidationError(f"Member number {number} is already taken.", code="taken")
        return number


class RefundForm(forms.Form):
    amount = AmountField(label="Refund amount", required=False)
    reason = forms.CharField(
        label="Reason (optional)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Kept with the refund, e.g. “damaged item”.",
    )
    # "Refund all" (a submit button named "full"): what is left of the purchase when the refund is recorded.
    full = forms.BooleanField(required=False)
    # "Refund all" asks first; the confirmation's button carries this.
    confirmed = forms.BooleanField(required=False)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput, error_messages=EXPIRED_KEY)

    def clean_reason(self) -> str:
        return self.cleaned_data["reason"].strip()

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("full") and "amount" not in self.errors and cleaned.get("amount") is None:
            self.add_error("amount", "Type the amount to refund, like 12.50.")
        return cleaned
