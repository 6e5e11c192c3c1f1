from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from loyalty_site.indexes import BrinOnPostgresIndex


class Store(models.Model):
    """A place where purchases happen. One store is the default, used when an import names none."""

    code = models.SlugField(max_length=32, unique=True, help_text="Short code used in imports, e.g. 'elm-street'.")
    name = models.CharField(max_length=120)
    address = models.CharField(max_length=250, blank=True)
    is_default = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="store_one_default"),
        ]

    def __str__(self) -> str:
        return self.name


class TransactionKind(models.TextChoices):
    PURCHASE = "purchase", "Purchase"
    REFUND = "refund", "Refund"


class TransactionSource(models.TextChoices):
    TILL = "till", "Till"
    ADMIN = "admin", "Admin"
    IMPORT = "import", "Import"
    API = "api", "API"


class Transaction(models.Model):
    """A purchase or a refund at the till. Amounts are never negative: the kind says which way money went."""

    Kind = TransactionKind
    Source = TransactionSource

    # Indexes are chosen, not one per foreign key: each costs every imported row a write. customer is served
    # by txn_customer_recent_idx and store by the receipt constraint; refund_of and the idempotency key are
    # nearly always empty, so their indexes are partial; recorded_by is never looked up by.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="transactions", db_index=False
    )
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="transactions", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PURCHASE)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    # Kept on the purchase by the refund service with a conditional UPDATE, so that two refunds racing
    # each other can never together exceed the purchase: the check constraint below has the last word.
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0, editable=False)
    occurred_at = models.DateTimeField(default=timezone.now)
    receipt_number = models.CharField(max_length=64)
    refund_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="refunds", db_index=False
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    # Set by the till form: a resubmitted form finds the transaction it already recorded.
    idempotency_key = models.UUIDField(null=True, blank=True, editable=False)
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        permissions = [("use_till", "Can record purchases and refunds at the till")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="transaction_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="transaction_refunds_within_purchase",
            ),
            models.CheckConstraint(
                condition=(Q(kind=TransactionKind.PURCHASE) & Q(refund_of__isnull=True))
                | (Q(kind=TransactionKind.REFUND) & Q(refund_of__isnull=False) & Q(refunded_amount=0)),
                name="transaction_refund_points_at_purchase",
            ),
            models.CheckConstraint(condition=Q(kind__in=TransactionKind.values), name="transaction_kind_valid"),
            models.CheckConstraint(condition=Q(source__in=TransactionSource.values), name="transaction_source_valid"),
            models.UniqueConstraint(fields=["store", "receipt_number"], name="transaction_receipt_unique_in_store"),
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="transaction_idempotency_key_unique",
            ),
        ]
        indexes = [
            # A customer's recent transactions (till, statement).
            models.Index(fields=["customer", "-occurred_at"], name="txn_customer_recent_idx"),
            # Periods of purchases (reports by store, the simulator): BRIN on PostgreSQL, nearly free to keep up
            # on a million-row import (see loyalty_site.indexes and the README's "Performance").
            BrinOnPostgresIndex(fields=["occurred_at"], name="txn_occurred_brin"),
            models.Index(fields=["refund_of"], condition=Q(refund_of__isnull=False), name="txn_refund_of_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.receipt_number} ({self.amount})"

    @property
    def refundable_amount(self):
        """What is left of a purchase to refund."""
        return self.amount - self.refunded_amount if self.kind == self.Kind.PURCHASE else 0


class TillSettings(models.Model):
    """What the till remembers for one signed-in user: the store they serve.

    A row rather than the session because it must survive signing out: a cashier signs in every
    morning at the same counter. Store staff cannot change it themselves (a manager sets it in the
    admin); a manager's changes as they switch store on the till page.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="till_settings")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "till settings"
        verbose_name_plural = "till settings"

    def __str__(self) -> str:
        return f"{self.user} at {self.store}"
