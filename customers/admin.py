from django.contrib import admin

from rewards.selectors import customer_balance

from .models import Customer
from .services import enrol_customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
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
