from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from rewards.selectors import customer_balance

from .models import Customer
from .phones import normalise_phone
from .services import check_phone_free, enrol_customer


class CustomerAdminForm(forms.ModelForm):
    """The admin's checks of a phone are the till's: a valid number, stored as E.164, nobody else's."""

    class Meta:
        model = Customer
        fields = ["member_number", "name", "email", "phone", "birthday", "date_joined", "home_store", "referred_by"]

    def clean_phone(self) -> str:
        try:
            phone = normalise_phone(self.cleaned_data["phone"])
            check_phone_free(phone, customer=self.instance if self.instance.pk else None)
        except ValidationError as error:
            raise ValidationError(error.message_dict["phone"]) from None
        return phone


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerAdminForm
    list_display = ["member_number", "name", "email", "phone", "home_store", "date_joined"]
    list_select_related = ["home_store"]
    search_fields = ["member_number", "name", "email", "phone"]
    list_filter = ["home_store", "date_joined"]
    date_hierarchy = "date_joined"
    autocomplete_fields = ["home_store", "referred_by"]
    readonly_fields = ["balance"]
    fieldsets = [
        (None, {"fields": ["member_number", "name", "email", "phone", "birthday"]}),
        ("Membership", {"fields": ["date_joined", "home_store", "referred_by", "balance"]}),
    ]

    @admin.display(description="Points balance")
    def balance(self, customer: Customer) -> int | str:
        return customer_balance(customer.pk) if customer.pk else "–"

    def save_model(self, request, obj: Customer, form, change: bool) -> None:
        if change:
            obj.save()
            return
        # New members join through the same service as at the till.
        enrolled = enrol_customer(
            name=obj.name,
            member_number=obj.member_number,
            email=obj.email,
            phone=obj.phone,
            birthday=obj.birthday,
            home_store=obj.home_store,
            referred_by=obj.referred_by,
            date_joined=obj.date_joined,
        )
        obj.pk = enrolled.pk
        obj.phone = enrolled.phone
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Members with a ledger cannot be deleted (PROTECT); nobody deletes members from the admin.
        return False
