from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone

from loyalty_site.access import is_manager
from rewards.services.books import check_open
from rewards.services.earning import earn_entry_of, version_in_force

from .forms import AmountField, add_service_errors
from .models import Store, TillSettings, Transaction
from .services import check_moment, check_refund_of, record_purchase, record_refund


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "is_default", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class TransactionAddForm(forms.ModelForm):
    """Adding a purchase or a refund by hand: judged by the recording service's own checks, so a refusal
    stands beside its field here as at the till; saving records through the service (save_model)."""

    amount = AmountField(label="Amount")

    class Meta:
        model = Transaction
        fields = ["kind", "customer", "store", "amount", "occurred_at", "receipt_number", "refund_of"]
        help_texts = {
            "receipt_number": "Leave blank to generate one.",
            "refund_of": "For a refund: the purchase being refunded (its customer is used).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["receipt_number"].required = False
        self.fields["customer"].required = False

    def clean(self):
        cleaned = super().clean()
        kind, purchase, amount = cleaned.get("kind"), cleaned.get("refund_of"), cleaned.get("amount")
        moment = cleaned.get("occurred_at")
        try:
            if moment is not None:
                check_moment(moment, kind=kind or Transaction.Kind.PURCHASE)
            if kind == Transaction.Kind.REFUND:
                if purchase is None:
                    self.add_error("refund_of", "Choose the purchase this refund is for.")
                elif amount is not None:  # else the amount's own error says what is wrong
                    customer = cleaned.get("customer") or purchase.customer
                    check_refund_of(purchase, amount=amount, occurred_at=moment, customer=customer)
                    earn_entry_of(purchase)  # refused if its points left the ledger with their month
                if purchase is not None:
                    cleaned["customer"] = self.instance.customer = purchase.customer
            else:
                if purchase is not None:
                    self.add_error("refund_of", "Only a refund points at a purchase.")
                if cleaned.get("customer") is None:
                    self.add_error("customer", "Choose the customer.")
                if moment is not None:
                    check_open(moment, what="a purchase")
                    version_in_force(moment)
        except ValidationError as error:
            add_service_errors(self, error)
        return cleaned


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "receipt_number", "kind", "customer", "store", "amount", "refunded_amount", "source"]
    list_select_related = ["customer", "store"]
    list_filter = ["store", "kind", "source", "occurred_at"]
    search_fields = ["receipt_number", "customer__member_number", "customer__name"]
    date_hierarchy = "occurred_at"
    autocomplete_fields = ["customer", "refund_of"]
    readonly_fields = ["refunded_amount", "source", "recorded_by", "recorded_at"]
    ordering = ["-occurred_at", "-id"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TransactionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return TransactionAddForm.Meta.fields
        return [
            "kind",
            "customer",
            "store",
            "amount",
            "refunded_amount",
            "occurred_at",
            "receipt_number",
            "refund_of",
            "source",
            "recorded_by",
            "recorded_at",
        ]

    def save_model(self, request, obj: Transaction, form, change: bool) -> None:
        # Recorded through the same services as the till, so the points reach the ledger.
        data = form.cleaned_data
        if data["kind"] == Transaction.Kind.REFUND:
            result = record_refund(
                purchase=data["refund_of"],
                amount=data["amount"],
                occurred_at=data["occurred_at"],
                store=data["store"],
                receipt_number=data.get("receipt_number") or "",
                recorded_by=request.user,
                source=Transaction.Source.ADMIN,
            )
        else:
            result = record_purchase(
                customer=data["customer"],
                store=data["store"],
                amount=data["amount"],
                occurred_at=data["occurred_at"],
                receipt_number=data.get("receipt_number") or "",
                recorded_by=request.user,
                source=Transaction.Source.ADMIN,
            )
        obj.pk = result.transaction.pk
        obj.receipt_number = result.transaction.receipt_number
        obj._state.adding = False

    def has_change_permission(self, request, obj=None) -> bool:
        # A recorded transaction is history: correct it with a refund, never by editing it.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TillSettings)
class TillSettingsAdmin(admin.ModelAdmin):
    """Which store each member of staff's till records at. Staff cannot switch store themselves:
    a manager sets it here."""

    list_display = ["user", "store", "updated_at"]
    list_select_related = ["user", "store"]
    list_filter = ["store"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["store"]
    fields = ["user", "store"]

    # Managers, by role rather than by model permission: the roles migration grants permissions that
    # existed when it ran, and this model came later.
    def has_module_permission(self, request) -> bool:
        return is_manager(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return is_manager(request.user)

    def has_add_permission(self, request) -> bool:
        return is_manager(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return is_manager(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return is_manager(request.user)

    def save_model(self, request, obj: TillSettings, form, change: bool) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
