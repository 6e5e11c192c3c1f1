from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower, Upper
from django.utils import timezone

from loyalty_site.indexes import TrigramOnPostgresIndex

member_number_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
    "A member number is letters, digits, '-' or '_', starting with a letter or digit.",
)


class Customer(models.Model):
    """A member of the loyalty program. Staff find them by member number, phone, email or name."""

    # What staff type or scan at the till; unique across the merchant.
    member_number = models.CharField(max_length=32, unique=True, validators=[member_number_validator])
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    birthday = models.DateField(null=True, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)
    home_store = models.ForeignKey(
        "transactions.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="home_customers"
    )
    referred_by = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="referrals")

    class Meta:
        ordering = ["member_number"]
        indexes = [
            # Till look-ups: phone exactly; member number, email and name case-insensitively.
            models.Index(fields=["phone"], name="customer_phone_idx"),
            models.Index(Lower("member_number"), name="customer_number_lower_idx"),
            models.Index(Lower("email"), name="customer_email_lower_idx"),
            models.Index(Lower("name"), name="customer_name_lower_idx"),
            models.Index(fields=["date_joined"], name="customer_joined_idx"),
            # The till's and the managers' search by part of a name, email, member number or phone
            # (customers.selectors.find_customers, customers.filters): the very expressions Django's icontains,
            # istartswith and contains compare on PostgreSQL, so that the OR of them is one BitmapOr.
            TrigramOnPostgresIndex(Upper("name"), name="customer_name_trgm_idx"),
            TrigramOnPostgresIndex(Upper("email"), name="customer_email_trgm_idx"),
            TrigramOnPostgresIndex(Upper("member_number"), name="customer_number_trgm_idx"),
            TrigramOnPostgresIndex(F("phone"), name="customer_phone_trgm_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.member_number} · {self.name}"
