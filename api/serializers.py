"""What the API reads and writes, field by field. Amounts are decimal strings ("120.00"; a JSON number is
refused, since a client's float may already have lost a cent), moments ISO 8601 with an offset, customers by
member number, stores by code. Query parameters are read by serializers too, so a refused one is named."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import member_number_validator
from rewards.calendar import parse_month
from rewards.forms import FIRST_YEAR, LAST_YEAR, MAX_MONTHS
from transactions.amounts import AmountError, parse_amount

AMOUNT_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
MEMBER_NUMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
STORE_CODE_PATTERN = r"^[-a-zA-Z0-9_]+$"
MAX_ID = 2**63 - 1


def _kind(value) -> str:
    """What a JSON value is, in words, for a refusal."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text"


class StrictText:
    """Text must be sent as a JSON string: DRF would turn 12 or true into "12" and "True"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(f"Send text (a JSON string), not {_kind(data)}.", code="invalid")
        return super().to_internal_value(data)


class TextField(StrictText, serializers.CharField):
    pass


class EmailField(StrictText, serializers.EmailField):
    pass


class WholeNumberField(serializers.IntegerField):
    """A JSON integer: DRF would also take "12" and 12.0."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError(f"Send a whole number, not {_kind(data)}.", code="invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "string", "pattern": AMOUNT_PATTERN, "example": "120.00", "description": "A decimal string, e.g. 120.00"}
)
class AmountField(serializers.Field):
    default_error_messages = {
        "number": 'Send the amount as a string, like "12.50": a JSON number may have lost cents on the way.',
        "invalid": 'Send the amount as a string, like "12.50".',
    }

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str):
            self.fail("number" if isinstance(data, int | float) and not isinstance(data, bool) else "invalid")
        try:
            return parse_amount(data)
        except AmountError as error:
            raise serializers.ValidationError(f"{error}.") from None

    def to_representation(self, value: Decimal) -> str:
        return f"{value:.2f}"


@extend_schema_field({"type": "string", "pattern": AMOUNT_PATTERN, "example": "120.00", "nullable": True})
class OptionalAmountField(AmountField):
    pass


@extend_schema_field(OpenApiTypes.DATETIME)
class MomentField(serializers.Field):
    """An ISO 8601 moment with its offset ("2025-01-31T14:30:00+01:00" or "...Z"); shown in the merchant's
    time zone with its offset."""

    default_error_messages = {
        "invalid": "Give a moment in ISO 8601 with its offset, like 2025-01-31T14:30:00+01:00 or 2025-01-31T13:30:00Z.",
        "naive": "Give the moment's offset too (+01:00, or Z for UTC): without it the moment is ambiguous.",
        "range": f"Give a moment from {FIRST_YEAR} to {LAST_YEAR}.",
    }

    def to_internal_value(self, data) -> dt.datetime:
        if not isinstance(data, str) or len(data) > 64:
            self.fail("invalid")
        try:
            moment = parse_datetime(data.strip())
        except ValueError:
            moment = None
        if moment is None:
            self.fail("invalid")
        if not FIRST_YEAR <= moment.year <= LAST_YEAR:
            self.fail("range")
        if timezone.is_naive(moment):
            self.fail("naive")
        return moment

    def to_representation(self, value: dt.datetime) -> str:
        return timezone.localtime(value).isoformat()


def member_number_field(**kwargs) -> serializers.CharField:
    return TextField(
        max_length=32,
        validators=[member_number_validator],
        help_text=kwargs.pop("help_text", "The customer's member number."),
        **kwargs,
    )


def store_field(**kwargs) -> serializers.CharField:
    return TextField(
        max_length=32,
        validators=[RegexValidator(STORE_CODE_PATTERN, "A store code is letters, digits, '-' or '_'.")],
        help_text=kwargs.pop(
            "help_text", "A store's code. A key bound to a store records there and may name no other."
        ),
        **kwargs,
    )


def id_field(**kwargs) -> serializers.IntegerField:
    return WholeNumberField(min_value=1, max_value=MAX_ID, **kwargs)


class PageQuerySerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=10**6, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=25)


# ---------------------------------------------------------------------------------------------------
# Customers.


class CustomerRefSerializer(serializers.Serializer):
    member_number = serializers.CharField()
    name = serializers.CharField()


class CustomerSerializer(serializers.Serializer):
    member_number = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    birthday = serializers.DateField(allow_null=True)
    enrolled_at = MomentField(source="date_joined")
    home_store = serializers.CharField(source="home_store.code", allow_null=True, default=None)


class CustomerSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=200, help_text="A member number, phone, email, or part of a name (as typed at the till)."
    )


class CustomerSearchSerializer(serializers.Serializer):
    results = CustomerSerializer(many=True)
    more_matches = serializers.BooleanField(help_text="More customers match than are listed: type more.")


class TierSerializer(serializers.Serializer):
    name = serializers.CharField(allow_null=True, help_text="The tier held, or null below every tier.")
    since = MomentField(allow_null=True)
    points_in_window = serializers.IntegerField(help_text="Points earned within the qualifying window.")
    window = serializers.CharField()
    next_tier = serializers.CharField(allow_null=True)
    points_to_next = serializers.IntegerField()


class ExpiringSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    first_due = serializers.DateField(allow_null=True)


class CustomerDetailSerializer(CustomerSerializer):
    balance = serializers.IntegerField()
    points_this_month = serializers.IntegerField(
        help_text="Points purchases earned this calendar month (merchant's time zone) less refunds."
    )
    expiring_soon = ExpiringSerializer(help_text="Points that lapse within 30 days unless spent.")
    tier = TierSerializer(allow_null=True, help_text="Null when the program has no tiers.")


class EnrolSerializer(serializers.Serializer):
    name = TextField(max_length=200)
    member_number = member_number_field(
        required=False, help_text="The number on the member's card; generated when left out."
    )
    email = EmailField(max_length=254, required=False, default="")
    phone = TextField(max_length=32, required=False, default="", allow_blank=True)
    birthday = serializers.DateField(required=False, allow_null=True, default=None)
    referred_by = member_number_field(required=False, help_text="The referring member's number.")
    store = store_field(required=False, help_text="The member's home store (a store-bound key: its store).")

    def validate_birthday(self, value: dt.date | None) -> dt.date | None:
        if value is not None and not (dt.date(FIRST_YEAR, 1, 1) <= value <= timezone.localdate()):
            raise serializers.ValidationError(f"A birthday is a past date from {FIRST_YEAR}.")
        return value


# ---------------------------------------------------------------------------------------------------
# The ledger.


class TransactionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    receipt_number = serializers.CharField()
    store = serializers.CharField(source="store.code")
    amount = AmountField()


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="earn, reversal, bonus, redemption, expiry or adjustment.")
    points = serializers.IntegerField()
    effective_at = MomentField()
    explanation = serializers.CharField(help_text="How the points were made, as on the statement.")
    reason = serializers.CharField()
    transaction = TransactionRefSerializer(allow_null=True)


# ---------------------------------------------------------------------------------------------------
# Purchases, refunds, redemptions.


class PurchaseSerializer(serializers.Serializer):
    customer = member_number_field()
    amount = AmountField()
    occurred_at = MomentField(
        required=False,
        help_text="When it happened; now when left out. Store staff's keys cannot back-date (beyond the "
        "clock skew allowed); a moment in the future is refused.",
    )
    store = store_field(required=False)
    receipt_number = TextField(
        max_length=64, required=False, allow_blank=True, default="", help_text="Generated when left out."
    )


class PurchaseRefSerializer(serializers.Serializer):
    id = id_field(required=False, help_text="The purchase's id, as the API returned it.")
    receipt_number = TextField(max_length=64, required=False)
    store = store_field(required=False, help_text="With receipt_number: the store of the purchase.")

    def validate(self, data: dict) -> dict:
        if "id" in data and ("receipt_number" in data or "store" in data):
            raise serializers.ValidationError("Name the purchase by its id, or by receipt_number and store: not both.")
        if "id" not in data and "receipt_number" not in data:
            raise serializers.ValidationError("Name the purchase by its id, or by receipt_number and store.")
        return data


class RefundSerializer(serializers.Serializer):
    purchase = PurchaseRefSerializer()
    amount = AmountField(help_text="How much of the purchase is refunded (at most what is left of it).")
    occurred_at = MomentField(required=False)
    receipt_number = TextField(
        max_length=64, required=False, allow_blank=True, default="", help_text="The refund's own receipt."
    )


class LineSerializer(serializers.Serializer):
    label = serializers.CharField()
    points = serializers.IntegerField()


class RecordedTransactionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    receipt_number = serializers.CharField()
    store = serializers.CharField(source="store.code")
    amount = AmountField()
    occurred_at = MomentField()
    source = serializers.CharField()


class PurchaseRecordedSerializer(serializers.Serializer):
    transaction = RecordedTransactionSerializer()
    customer = CustomerRefSerializer()
    points = serializers.IntegerField(help_text="What the purchase earned its customer, bonuses included.")
    lines = LineSerializer(many=True, help_text="How the points were made: the lines sum to `points`.")
    balance = serializers.IntegerField(help_text="The customer's balance after it.")
    points_this_month = serializers.IntegerField()


class RefundedPurchaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    receipt_number = serializers.CharField()
    store = serializers.CharField(source="store.code")
    amount = AmountField()
    refunded = AmountField(source="refunded_amount")
    left = AmountField(source="refundable_amount")


class RefundRecordedSerializer(PurchaseRecordedSerializer):
    points = serializers.IntegerField(help_text="The points the refund took back (zero or negative).")
    purchase = RefundedPurchaseSerializer()


class RewardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    points_cost = serializers.IntegerField()
    benefit = serializers.CharField(help_text="amount_off, free_item or free_delivery.")
    gives = serializers.CharField()
    amount_off = OptionalAmountField(allow_null=True)
    description = serializers.CharField()
    active_from = serializers.DateField(allow_null=True)
    active_until = serializers.DateField(allow_null=True)
    stock = serializers.IntegerField(allow_null=True)
    per_customer_limit = serializers.IntegerField(allow_null=True)
    min_tier = serializers.CharField(source="min_tier.name", allow_null=True, default=None)


class RewardsQuerySerializer(PageQuerySerializer):
    customer = member_number_field(
        required=False, help_text="Only the rewards this customer can redeem now (balance, stock, limit, tier)."
    )


class RedemptionSerializer(serializers.Serializer):
    customer = member_number_field()
    reward = id_field(help_text="The reward's id (GET /api/v1/rewards).")
    store = store_field(required=False)


class RewardRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RedemptionDoneSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reward = RewardRefSerializer()
    points = serializers.IntegerField(help_text="The points spent.")
    store = serializers.CharField(source="store.code")
    redeemed_at = MomentField()


class RedemptionRecordedSerializer(serializers.Serializer):
    redemption = RedemptionDoneSerializer()
    customer = CustomerRefSerializer()
    balance = serializers.IntegerField()


# ---------------------------------------------------------------------------------------------------
# The monthly points report.


@extend_schema_field({"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$", "example": "2025-01"})
class MonthField(serializers.Field):
    default_error_messages = {
        "month": "Give a month as YYYY-MM, e.g. 2025-01 (the month must be 01 to 12).",
        "range": f"Choose a month from {FIRST_YEAR}-01 to {LAST_YEAR}-12.",
    }

    def to_internal_value(self, data) -> dt.date:
        if not isinstance(data, str) or len(data) > 7:
            self.fail("month")
        try:
            month = parse_month(data)
        except ValueError:
            self.fail("month")
        if not FIRST_YEAR <= month.year <= LAST_YEAR:
            self.fail("range")
        return month

    def to_representation(self, value: dt.date) -> str:
        return f"{value:%Y-%m}"


class PointsReportQuerySerializer(PageQuerySerializer):
    start = MonthField(required=False, help_text="The first month, YYYY-MM (default: three months ago).")
    months = serializers.IntegerField(min_value=1, max_value=MAX_MONTHS, default=3)
    store = store_field(required=False, help_text="Only points of that store's purchases and refunds.")
    q = serializers.CharField(max_length=200, required=False, help_text="Member number or part of a name.")
    min_total = serializers.IntegerField(min_value=-(2**62), max_value=2**62, required=False)


class MonthPointsSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    points = serializers.IntegerField()


class ReportRowSerializer(serializers.Serializer):
    member_number = serializers.CharField()
    name = serializers.CharField()
    by_month = MonthPointsSerializer(many=True)
    total = serializers.IntegerField()
    redeemed = serializers.IntegerField()
    expired = serializers.IntegerField()
    adjusted = serializers.IntegerField()


class ReportTotalsSerializer(serializers.Serializer):
    by_month = MonthPointsSerializer(many=True)
    total = serializers.IntegerField()
    redeemed = serializers.IntegerField()
    expired = serializers.IntegerField()
    adjusted = serializers.IntegerField()


class PageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Rows in the whole result.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class ArchivedMonthSerializer(serializers.Serializer):
    month = MonthField(help_text="The detached month, YYYY-MM.")
    points = serializers.IntegerField(
        help_text="What the month's entries that left the ledger carry into the balance (their sum)."
    )
    effective_at = MomentField(
        source="when", help_text="The month's first moment in the merchant's time zone: the line's place by date."
    )
    title = serializers.CharField(help_text="The line as on the statement: January 2025 — archived: 10 points carried.")


class LedgerPageSerializer(PageSerializer):
    results = LedgerEntrySerializer(many=True)
    archived_months = ArchivedMonthSerializer(
        many=True,
        help_text="A carried line per month detached from the ledger and archived, newest first: its entries are "
        "no longer in `results`, the points they carry are in the balance. The entries of every page and these "
        "lines add up to the customer's balance. The same on every page (count them once); empty until a month "
        "of theirs is detached.",
    )


class RewardsPageSerializer(PageSerializer):
    results = RewardSerializer(many=True)


class PointsReportSerializer(PageSerializer):
    start = serializers.CharField(help_text="The first month, YYYY-MM.")
    months = serializers.ListField(child=serializers.CharField(), help_text="The period's months, YYYY-MM.")
    totals = ReportTotalsSerializer(help_text="Of the whole filtered result, not only this page.")
    results = ReportRowSerializer(many=True)
