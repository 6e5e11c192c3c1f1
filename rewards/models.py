from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from loyalty_site.formatting import money
from loyalty_site.indexes import BrinOnPostgresIndex, NullsOrderedIndex

from . import engine


class Program(models.Model):
    """The merchant's loyalty program. A migration creates the default one with the classic rule."""

    name = models.CharField(max_length=120)
    # What one point is worth in money has a history of its own: PointValue (rewards.selectors.point_value_at).
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class NegativeBalance(models.TextChoices):
        TAKE_WHAT_REMAINS = "take_what_remains", "Take what remains and record the shortfall"
        ALLOW = "allow", "Allow a negative balance"

    # A refund of a purchase whose points were already spent. The default never leaves a customer owing
    # points (no surprise at the next visit); the shortfall is recorded on the reversal for the merchant.
    negative_balance_policy = models.CharField(
        max_length=20, choices=NegativeBalance.choices, default=NegativeBalance.TAKE_WHAT_REMAINS
    )
    # A manual adjustment of more points than this (either way) waits for a second manager's approval.
    adjustment_approval_threshold = models.PositiveIntegerField(default=500)

    class TierWindow(models.TextChoices):
        ROLLING_12 = "rolling_12", "The last 12 calendar months (this one included)"
        CALENDAR_YEAR = "calendar_year", "The calendar year"

    class TierDowngrade(models.TextChoices):
        END_OF_WINDOW = "end_of_window", "At the end of the qualifying window"
        NEVER = "never", "Never"

    # Tiers qualify by points earned (earn, refunds' reversals and bonuses) within this window.
    tier_window = models.CharField(max_length=16, choices=TierWindow.choices, default=TierWindow.ROLLING_12)
    tier_downgrade = models.CharField(max_length=16, choices=TierDowngrade.choices, default=TierDowngrade.END_OF_WINDOW)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="program_one_default"),
        ]

    def __str__(self) -> str:
        return self.name


class RuleVersion(models.Model):
    """The earning rule in force from `effective_from` until the next version. Versions are never edited:
    a purchase earns by the version in force at its moment; its refunds reverse by that same version."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="versions")
    effective_from = models.DateTimeField()
    # The engine's stored form of a rule: {"bands": [{"threshold": 50, "rate": "1"}, ...]}.
    rule = models.JSONField()
    note = models.CharField(max_length=200, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["program", "-effective_from"]
        get_latest_by = "effective_from"
        permissions = [("manage_program", "Can change the program's earning rules")]
        constraints = [
            models.UniqueConstraint(fields=["program", "effective_from"], name="ruleversion_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.program} from {timezone.localtime(self.effective_from):%Y-%m-%d %H:%M}"

    def engine_rule(self) -> engine.Rule:
        return self._engine_rule

    @cached_property
    def _engine_rule(self) -> engine.Rule:
        # A version is never edited once saved, so its rule is read once per instance.
        return engine.Rule.from_dict(self.rule)


class LedgerKind(models.TextChoices):
    """The kinds of ledger entry, declared once (PointsEntry.Kind); the roll-up's columns, and how each kind
    counts for the accountant (KIND_ACCOUNTING), follow from them."""

    EARN = "earn", "Earned"
    REVERSAL = "reversal", "Reversed (refund)"
    BONUS = "bonus", "Bonus"
    REDEMPTION = "redemption", "Redeemed"
    EXPIRY = "expiry", "Expired"
    ADJUSTMENT = "adjustment", "Adjustment"

    @property
    def sale_linked(self) -> bool:
        """Whether points of this kind were issued with a sale (see KIND_ACCOUNTING)."""
        return KIND_ACCOUNTING[self].sale_linked

    @property
    def roll_forward_line(self) -> str:
        return KIND_ACCOUNTING[self].line


@dataclass(frozen=True)
class KindAccounting:
    sale_linked: bool
    line: str  # its line in the liability roll-forward


# How each ledger kind counts for the accountant, declared once with the kinds (a test checks every kind is
# here). Sale-linked points are a separate performance obligation of the sale that earned them: part of the
# sale's price is deferred to them (IFRS 15 B39-B43, ASC 606-10-55-42..45), so an earn entry and the reversal
# of its refund are sale-linked. Everything else was given without a sale (enrolment, birthday, referral,
# stamp-card and feedback bonuses, goodwill adjustments and recalculations): a marketing cost, not revenue.
# Redemptions and expiries use up points of either origin. The order is the roll-forward's order of lines.
KIND_ACCOUNTING: dict[str, KindAccounting] = {
    LedgerKind.EARN: KindAccounting(sale_linked=True, line="Issued with sales"),
    LedgerKind.BONUS: KindAccounting(sale_linked=False, line="Issued without sales (bonuses)"),
    LedgerKind.REVERSAL: KindAccounting(sale_linked=True, line="Reversed by refunds"),
    LedgerKind.REDEMPTION: KindAccounting(sale_linked=False, line="Redeemed"),
    LedgerKind.EXPIRY: KindAccounting(sale_linked=False, line="Expired"),
    LedgerKind.ADJUSTMENT: KindAccounting(sale_linked=False, line="Adjustments"),
}
SALE_LINKED_KINDS = tuple(kind for kind, accounting in KIND_ACCOUNTING.items() if accounting.sale_linked)


class PointsEntry(models.Model):
    """One line of the append-only points ledger. Balances and reports are sums of these.

    A correction is a new entry that points at what it corrects (`corrects`); no entry is ever edited.
    Each kind must carry its cause, which the check constraints enforce.
    """

    Kind = LedgerKind

    # Indexes here are chosen, not Django's one per foreign key: every ledger row pays for each index on
    # write (a million-row import writes a million entries). customer is served by pointsentry_customer_idx;
    # rule_version and created_by are never looked up by; corrects and recalculation get partial indexes.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="points_entries", db_index=False
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # 64-bit: an expiry or a recalculation carries a month's sum. One purchase's entry is kept within 32 bits
    # by the program's capacity check (engine.check_capacity); the widening costs no space for earn entries
    # (the column sits in what was alignment padding before effective_at).
    points = models.BigIntegerField()
    # When the entry counts (the purchase's or refund's moment): decides its month in reports.
    effective_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    transaction = models.ForeignKey(
        "transactions.Transaction", on_delete=models.PROTECT, null=True, blank=True, related_name="points_entries"
    )
    rule_version = models.ForeignKey(
        RuleVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="entries", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections", db_index=False
    )
    reason = models.CharField(max_length=200, blank=True)
    # What history needs and nothing that can be derived (see `explanation` and `detail`). An earn entry
    # keeps only its purchase's context, when its rule has promotions ({"context": {"on": "2025-03-04",
    # "store": "elm-street"}}), and the customer's tier multiplier when not 1: its account is rendered from
    # them, its rule version and its purchase's amount. Other entries keep what they were computed from
    # (a reversal: what was refunded before it, its shortfall; an adjustment: its request).
    facts = models.JSONField(default=dict, blank=True)
    # The account in words where it cannot be derived (reversals, adjustments, redemptions, expiries...);
    # empty on earn entries.
    note = models.TextField(blank=True)
    # A bonus that may be given only once per customer carries a key ("enrolment", "birthday:2025",
    # "referral:42", "stamp:10"); a conditional unique constraint makes a second award impossible.
    bonus_key = models.CharField(max_length=64, blank=True, default="")
    # An earn entry that counts as a visit on the stamp card of its rule version.
    stamped = models.BooleanField(default=False)
    # The recalculation an adjustment entry belongs to.
    recalculation = models.ForeignKey(
        "Recalculation", on_delete=models.PROTECT, null=True, blank=True, related_name="entries", db_index=False
    )

    class Meta:
        verbose_name = "points entry"
        verbose_name_plural = "points ledger"
        ordering = ["-effective_at", "-id"]
        permissions = [("view_reports", "Can view points reports")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=LedgerKind.values), name="pointsentry_kind_valid"),
            # Every entry carries its cause.
            models.CheckConstraint(
                condition=~Q(kind=LedgerKind.EARN)
                | (Q(transaction__isnull=False) & Q(rule_version__isnull=False) & Q(points__gte=0)),
                name="pointsentry_earn_has_purchase_and_rule",
            ),
            models.CheckConstraint(
                condition=~Q(kind=LedgerKind.REVERSAL)
                | (
                    Q(transaction__isnull=False)
                    & Q(rule_version__isnull=False)
                    & Q(corrects__isnull=False)
                    & Q(points__lte=0)
                ),
                name="pointsentry_reversal_has_refund_and_earn",
            ),
            models.CheckConstraint(
                condition=~Q(kind=LedgerKind.BONUS) | (Q(points__gte=0) & ~Q(reason="")),
                name="pointsentry_bonus_has_reason",
            ),
            models.CheckConstraint(
                # Spending takes points (<= 0); undoing a redemption gives them back and corrects the spending.
                condition=~Q(kind=LedgerKind.REDEMPTION)
                | (Q(created_by__isnull=False) & (Q(points__lte=0) | Q(corrects__isnull=False))),
                name="pointsentry_redemption_has_author",
            ),
            models.CheckConstraint(
                condition=~Q(kind=LedgerKind.EXPIRY) | (Q(points__lte=0) & ~Q(reason="")),
                name="pointsentry_expiry_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(kind=LedgerKind.ADJUSTMENT) | (Q(created_by__isnull=False) & ~Q(reason="")),
                name="pointsentry_adjustment_has_author_and_reason",
            ),
            # A purchase earns once; a refund reverses once.
            models.UniqueConstraint(
                fields=["transaction"], condition=Q(kind=LedgerKind.EARN), name="pointsentry_one_earn_per_purchase"
            ),
            models.UniqueConstraint(
                fields=["transaction"],
                condition=Q(kind=LedgerKind.REVERSAL),
                name="pointsentry_one_reversal_per_refund",
            ),
            # A keyed bonus is given once per customer (birthday once a year, referral once per referred member).
            models.UniqueConstraint(
                fields=["customer", "bonus_key"],
                condition=Q(kind=LedgerKind.BONUS) & ~Q(bonus_key=""),
                name="pointsentry_bonus_once_per_key",
            ),
            # An expiry carries the key of the lot it lapses ("expiry:2025-03", points earned in March 2025):
            # the daily command cannot expire a lot twice, also when run twice or late. (The column is the
            # ledger's once-only key; it is named for the bonuses that had it first.)
            models.UniqueConstraint(
                fields=["customer", "bonus_key"],
                condition=Q(kind=LedgerKind.EXPIRY) & ~Q(bonus_key=""),
                name="pointsentry_expiry_once_per_lot",
            ),
            models.CheckConstraint(
                condition=Q(bonus_key="") | Q(kind__in=[LedgerKind.BONUS, LedgerKind.EXPIRY]),
                name="pointsentry_only_bonuses_have_keys",
            ),
            models.CheckConstraint(
                condition=Q(recalculation__isnull=True) | Q(kind=LedgerKind.ADJUSTMENT),
                name="pointsentry_recalculation_posts_adjustments",
            ),
        ]
        indexes = [
            # Counting a customer's stamp-card visits.
            models.Index(fields=["customer"], condition=Q(stamped=True), name="pointsentry_stamped_idx"),
            # Balance and statement of one customer.
            models.Index(fields=["customer", "-effective_at"], name="pointsentry_customer_idx"),
            # Period reports that read the ledger itself (the roll-up check, the glance page): BRIN on PostgreSQL,
            # since entries are appended in (nearly) date order (loyalty_site.indexes).
            BrinOnPostgresIndex(fields=["effective_at"], name="pointsentry_effective_brin"),
            # The corrections of an entry, the entries of a recalculation: few rows, so partial indexes.
            models.Index(fields=["corrects"], condition=Q(corrects__isnull=False), name="pointsentry_corrects_idx"),
            models.Index(
                fields=["recalculation"], condition=Q(recalculation__isnull=False), name="pointsentry_recalc_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.points:+d} for {self.customer_id}"

    @property
    def label(self) -> str:
        """What the entry is, in a person's words: the kind, except where the sign changes the meaning
        (a redemption entry that gives points back undoes a redemption) or the cause does (a recalculation)."""
        if self.kind == self.Kind.REDEMPTION and self.points > 0:
            return "Redemption undone"
        if self.kind == self.Kind.ADJUSTMENT and self.recalculation_id:
            return "Recalculation"
        return self.get_kind_display()

    # -- an earn entry's account, rendered from what it stores ---------------------------------------

    @staticmethod
    def earn_facts(context: engine.Context, tier_multiplier: Decimal) -> dict[str, Any]:
        """What an earn entry stores beside its rule version and purchase: the purchase's context when its
        rule has promotions (`context` is empty otherwise) and the tier multiplier when not 1."""
        facts: dict[str, Any] = {}
        if context:
            facts["context"] = context.as_dict()
        if tier_multiplier != 1:
            # Refunds reverse by the multiplier the purchase earned with (rewards.services.earning).
            facts["tier_multiplier"] = str(tier_multiplier)
        return facts

    def purchase_context(self) -> engine.Context:
        """The context an earn entry earned in: its refunds reverse in the same one. An entry without one
        earned without promotions, and its refunds reverse the same way."""
        return engine.Context.from_dict((self.facts or {}).get("context"))

    def tier_multiplier(self) -> Decimal:
        return Decimal((self.facts or {}).get("tier_multiplier", "1"))

    def earning(self) -> engine.Earning:
        """An earn entry's account (bands, promotion steps, tier), rendered from its rule version, its
        purchase's amount and its facts: the same the entry was computed with when it was written."""
        if self.kind != self.Kind.EARN:
            raise ValueError("only an earn entry has an earning")
        return engine.earn(
            self.transaction.amount,
            self.rule_version.engine_rule(),
            tier_multiplier=self.tier_multiplier(),
            **self.purchase_context().arguments(),
        )

    def account_lines(self) -> tuple[engine.Line, ...]:
        """The entry's points as lines that sum to them: an earn entry's bands, promotion steps and tier;
        any other entry is one line, its reason or its note."""
        if self.kind == self.Kind.EARN:
            return self.earning().lines()
        return (engine.Line(self.reason or self.note, self.points),)

    @property
    def explanation(self) -> str:
        """How the points were computed, in one line: rendered for an earn entry, written for the others."""
        return self.earning().explain() if self.kind == self.Kind.EARN else self.note

    @property
    def detail(self) -> dict[str, Any]:
        """The same as data: an earn entry's account (amount, parts, promotions...) with its facts."""
        if self.kind != self.Kind.EARN:
            return self.facts
        detail = self.earning().as_dict()
        if "context" in self.facts:
            detail["context"] = self.facts["context"]
        return detail


class CustomerMonthPoints(models.Model):
    """Ledger sums per customer and calendar month in the merchant's TIME_ZONE, by kind.

    Derived, never the source of truth: every ledger write updates it in the same database
    transaction (rewards.services.ledger.post_entries), and `manage.py check_points_rollup` proves it equals
    the ledger (`--repair` rebuilds it, e.g. after TIME_ZONE changes). Reports read it instead of
    grouping millions of ledger rows.
    """

    # Each ledger kind's column, declared once: the roll-up's writes, its proof and every report that reads
    # it derive their lists of columns from here. Sums of many entries: 64-bit.
    COLUMNS: dict[str, str] = {
        PointsEntry.Kind.EARN: "earned",
        PointsEntry.Kind.REVERSAL: "reversed",
        PointsEntry.Kind.BONUS: "bonus",
        PointsEntry.Kind.REDEMPTION: "redeemed",
        PointsEntry.Kind.EXPIRY: "expired",
        PointsEntry.Kind.ADJUSTMENT: "adjusted",
    }
    POINT_COLUMNS = tuple(COLUMNS.values())
    # Every summed column: the points by kind, and the count of entries.
    SUMMED = (*POINT_COLUMNS, "entries")
    # What purchases earned: earn entries less the refunds' reversals (the monthly report's figure).
    EARNED = (COLUMNS[LedgerKind.EARN], COLUMNS[LedgerKind.REVERSAL])
    # What counts toward a tier: earning, its reversals and bonuses; never reduced by spending.
    QUALIFYING = (*EARNED, COLUMNS[LedgerKind.BONUS])
    # The monthly report's other movements beside "earned" (signed as in the ledger).
    SPENT = (COLUMNS[LedgerKind.REDEMPTION], COLUMNS[LedgerKind.EXPIRY], COLUMNS[LedgerKind.ADJUSTMENT])

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="month_points")
    month = models.DateField(help_text="First day of the calendar month.")
    earned = models.BigIntegerField(default=0)
    reversed = models.BigIntegerField(default=0)
    bonus = models.BigIntegerField(default=0)
    redeemed = models.BigIntegerField(default=0)
    expired = models.BigIntegerField(default=0)
    adjusted = models.BigIntegerField(default=0)
    entries = models.IntegerField(default=0)

    class Meta:
        verbose_name = "customer month of points"
        verbose_name_plural = "customer months of points (roll-up)"
        constraints = [
            models.UniqueConstraint(fields=["customer", "month"], name="customermonthpoints_unique"),
        ]
        indexes = [
            # The monthly report: all customers of a period of months.
            models.Index(fields=["month", "customer"], name="cmp_month_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.month:%Y-%m}"

    @property
    def net_earned(self) -> int:
        return sum(getattr(self, column) for column in self.EARNED)

    @classmethod
    def kinds_of(cls, columns: tuple[str, ...]) -> tuple[str, ...]:
        """The ledger kinds summed in these columns."""
        return tuple(kind for kind, column in cls.COLUMNS.items() if column in columns)

    @classmethod
    def sum_of(cls, columns: tuple[str, ...]) -> models.Expression:
        """SQL adding up some of a row's columns (EARNED, QUALIFYING, POINT_COLUMNS)."""
        return sum((F(column) for column in columns[1:]), F(columns[0]))


class CustomerWindowPoints(models.Model):
    """The monthly report's row of a customer for a period of MONTHS months starting at `start_month`:
    what purchases earned in each of its months and in total (CustomerMonthPoints.EARNED), and the period's
    spent columns (CustomerMonthPoints.SPENT). One row for every customer with any roll-up row in the period,
    so the report's first page sorted by total is a range of one index instead of grouping every customer's
    months of the period (rewards.selectors.monthly_points).

    Derived from the roll-up, kept with it: `fold_into_rollup` adds each changed customer-month to the MONTHS
    windows that contain it in the same statement (PostgreSQL) or transaction (SQLite), and
    `check_points_rollup` proves it equals the roll-up (`--repair` rebuilds it). Never written elsewhere.
    """

    MONTHS = 3
    # What the report shows of each month of the period, in order: one column per month.
    MONTH_COLUMNS = ("earned_first", "earned_second", "earned_third")

    pk = models.CompositePrimaryKey("customer_id", "start_month")
    # The primary key leads with the customer: no index of its own.
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    start_month = models.DateField(help_text="First day of the period's first month.")
    earned = models.BigIntegerField(default=0, help_text="The period's total: the report's sort key.")
    earned_first = models.BigIntegerField(default=0)
    earned_second = models.BigIntegerField(default=0)
    earned_third = models.BigIntegerField(default=0)
    redeemed = models.BigIntegerField(default=0)
    expired = models.BigIntegerField(default=0)
    adjusted = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "customer window of points"
        verbose_name_plural = "customer windows of points (monthly report)"
        indexes = [
            # The report sorted by total, largest first (a forward scan) or smallest first (a backward scan),
            # in the order SortedColumn asks for (DESC NULLS LAST / ASC NULLS FIRST); member numbers break
            # ties in an incremental sort of each run of equal totals.
            NullsOrderedIndex(F("start_month"), F("earned").desc(nulls_last=True), name="cwp_start_earned_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} from {self.start_month:%Y-%m}"


class CustomerWindowCount(models.Model):
    """How many customers have a CustomerWindowPoints row for a period: the report's row count, read from
    SHARDS rows instead of counting the period's customers. Split by customer id (`shard` = id % SHARDS) so
    that tills adding the month's first purchases of different customers rarely wait for one row's lock.
    Incremented only when a window row is created (rows are never deleted but by a rebuild, which recounts)."""

    SHARDS = 16

    start_month = models.DateField(help_text="First day of the period's first month.")
    shard = models.PositiveSmallIntegerField()
    customers = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "count of customer windows"
        verbose_name_plural = "counts of customer windows (monthly report)"
        constraints = [
            models.UniqueConstraint(fields=["start_month", "shard"], name="customerwindowcount_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.start_month:%Y-%m} shard {self.shard}: {self.customers}"


class ProgramDraft(models.Model):
    """A manager's unpublished rule: what the settings page edits, the simulator replays and publishing
    turns into a rule version. One draft per program; publishing it removes it."""

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="draft")
    # The engine's stored form, validated by engine.Rule.from_dict before it is saved.
    rule = models.JSONField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Draft of {self.program}"

    def engine_rule(self) -> engine.Rule:
        return engine.Rule.from_dict(self.rule)


class Recalculation(models.Model):
    """A manager's explicit re-rating of past months under one rule version. It posts adjustment entries
    (never edits old ones) that point back here; the period is whole months in the merchant's TIME_ZONE."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="recalculations")
    rule_version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="recalculations")
    first_month = models.DateField(help_text="First day of the first month re-rated.")
    months = models.PositiveSmallIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    customers = models.PositiveIntegerField(default=0)
    points = models.BigIntegerField(default=0, help_text="The sum of the adjustments posted.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(months__gte=1), name="recalculation_at_least_a_month")]

    def __str__(self) -> str:
        return f"Recalculation #{self.pk} of {self.first_month:%Y-%m} (+{self.months - 1} months)"


class Tier(models.Model):
    """A member level (Member, VIB, Rouge): reached by points earned within the program's window; it may
    multiply what purchases earn and unlock rewards. Higher rank, higher tier."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="tiers")
    name = models.CharField(max_length=60)
    rank = models.PositiveSmallIntegerField()
    threshold = models.PositiveIntegerField(help_text="Points earned within the window to reach it.")
    multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))

    class Meta:
        ordering = ["program", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["program", "rank"], name="tier_unique_rank"),
            models.UniqueConstraint(fields=["program", "threshold"], name="tier_unique_threshold"),
            models.CheckConstraint(condition=Q(multiplier__gte=1), name="tier_multiplier_at_least_one"),
        ]

    def __str__(self) -> str:
        return self.name


class CustomerTier(models.Model):
    """The tier a customer holds now and since when. Purchases move it up at once; the daily review_tiers
    command moves it down (under the program's setting) and catches up on imported purchases."""

    customer = models.OneToOneField("customers.Customer", on_delete=models.CASCADE, related_name="tier_status")
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    since = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.tier} since {self.since:%Y-%m-%d}"


class RewardBenefit(models.TextChoices):
    AMOUNT_OFF = "amount_off", "Amount off"
    FREE_ITEM = "free_item", "Free item"
    FREE_DELIVERY = "free_delivery", "Free delivery"


class Reward(models.Model):
    """A reward in the managers' catalog: what it costs in points, what it gives, and when it can be had."""

    Benefit = RewardBenefit

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="rewards")
    name = models.CharField(max_length=120)
    points_cost = models.PositiveIntegerField()
    benefit = models.CharField(max_length=16, choices=Benefit.choices)
    # The money off for an amount-off reward; the item's description for a free item.
    amount_off = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    # Local calendar days, both included; empty means open-ended.
    active_from = models.DateField(null=True, blank=True)
    active_until = models.DateField(null=True, blank=True)
    # How many are left; empty means unlimited. Redeeming takes one with a conditional UPDATE.
    stock = models.PositiveIntegerField(null=True, blank=True)
    # How many times one customer may redeem it (undone redemptions do not count); empty means no limit.
    per_customer_limit = models.PositiveIntegerField(null=True, blank=True)
    # Only customers of this tier or higher may redeem it.
    min_tier = models.ForeignKey(Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["points_cost", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(points_cost__gte=1), name="reward_costs_points"),
            models.CheckConstraint(
                condition=~Q(benefit=RewardBenefit.AMOUNT_OFF) | Q(amount_off__gt=0),
                name="reward_amount_off_has_amount",
            ),
            models.CheckConstraint(
                condition=Q(active_from__isnull=True)
                | Q(active_until__isnull=True)
                | Q(active_until__gte=F("active_from")),
                name="reward_active_dates_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points_cost} points)"

    def gives(self) -> str:
        if self.benefit == self.Benefit.AMOUNT_OFF:
            return f"{money(self.amount_off)} off"
        if self.benefit == self.Benefit.FREE_ITEM:
            return f"Free {self.description}" if self.description else "Free item"
        return "Free delivery"


class Redemption(models.Model):
    """A reward redeemed for a customer at the till: the redemption entry it posted, and its undoing if any.

    Undoing posts a second redemption entry with the points back, correcting the first (the ledger stays
    append-only and the reports' "redeemed" column nets undone redemptions out).
    """

    # Indexed: the till's list of a customer's redemptions and the per-customer limit count by customer and reward.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="redemptions", db_index=False
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions", db_index=False)
    points = models.PositiveIntegerField(help_text="Points spent: the reward's cost at the moment of redeeming.")
    store = models.ForeignKey("transactions.Store", on_delete=models.PROTECT, related_name="+", db_index=False)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    redeemed_at = models.DateTimeField(default=timezone.now)
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="redemption")
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_entry = models.OneToOneField(
        PointsEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="undoes"
    )
    # A resubmitted till form (double click, back button) redeems once.
    idempotency_key = models.UUIDField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-redeemed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(undone_at__isnull=True) & Q(undone_by__isnull=True) & Q(undo_entry__isnull=True))
                | (Q(undone_at__isnull=False) & Q(undone_by__isnull=False) & Q(undo_entry__isnull=False)),
                name="redemption_undone_completely_or_not",
            ),
        ]
        indexes = [models.Index(fields=["customer", "reward"], name="redemption_customer_reward_idx")]

    def __str__(self) -> str:
        return f"Redemption #{self.pk}: {self.reward.name} for {self.customer_id}"

    @property
    def undone(self) -> bool:
        return self.undone_at is not None


class AdjustmentStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    POSTED = "posted", "Posted"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn by the requester"


class AdjustmentRequest(models.Model):
    """A manager's manual adjustment (points added or deducted, with a reason). Within the program's
    threshold it posts at once; above it, it waits for a second manager (not the requester) to approve it.
    The posted adjustment entry is `entry`; the request keeps who asked, who decided and when."""

    Status = AdjustmentStatus

    # Indexed (Django's default): a customer's page lists their pending requests.
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="adjustment_requests")
    points = models.IntegerField()
    reason = models.CharField(max_length=200)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The second manager who approved or rejected it; empty when it posted at once within the threshold, and
    # when its requester withdrew it (then `decided_at` says when).
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    entry = models.OneToOneField(
        PointsEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="adjustment_request"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="adjustmentrequest_moves_points"),
            models.CheckConstraint(condition=~Q(reason=""), name="adjustmentrequest_has_reason"),
            models.CheckConstraint(
                condition=Q(status=AdjustmentStatus.POSTED, entry__isnull=False)
                | (~Q(status=AdjustmentStatus.POSTED) & Q(entry__isnull=True)),
                name="adjustmentrequest_posted_has_entry",
            ),
            # Nobody approves their own request.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="adjustmentrequest_second_manager_decides",
            ),
        ]
        indexes = [
            # The approvals page lists the pending requests.
            models.Index(
                fields=["requested_at"],
                condition=Q(status=AdjustmentStatus.PENDING),
                name="adjustmentrequest_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Adjustment {self.points:+d} for {self.customer_id} ({self.get_status_display()})"


class ExpiryKind(models.TextChoices):
    NEVER = engine.NEVER, "Points never expire"
    AFTER_MONTHS = engine.AFTER_MONTHS, "Points expire N months after the month they were earned"
    INACTIVITY = engine.INACTIVITY, "The whole balance expires after N months without activity"


class ExpiryPolicy(models.Model):
    """The program's expiry rule from the first day of a month (in the merchant's TIME_ZONE) until the next.

    Points lapse under the rule in force in the month they were earned: a later change never expires
    points the earlier rule would have kept. Changes start at a future month's beginning, so every month
    of earning has exactly one rule. No row in force means points never expire.
    """

    Kind = ExpiryKind

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="expiry_policies")
    effective_month = models.DateField(help_text="First day of the first month the rule applies to.")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    months = models.PositiveSmallIntegerField(default=0)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "effective_month"]
        constraints = [
            models.UniqueConstraint(fields=["program", "effective_month"], name="expirypolicy_one_per_month"),
            models.CheckConstraint(
                condition=Q(kind=ExpiryKind.NEVER) | Q(months__gte=1), name="expirypolicy_has_months"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.months}) from {self.effective_month:%Y-%m}"

    def engine_rule(self) -> engine.ExpiryRule:
        return engine.ExpiryRule(kind=self.kind, months=self.months)


# ---------------------------------------------------------------------------------------------------
# The accountant's books: what a point is worth, the liability roll-up, month close, the breakage estimate.


class PointValue(models.Model):
    """What one point is worth in money from `effective_from` until the next version (a liability measure:
    the money the merchant owes per point outstanding). Versions are never edited and a new one starts now or
    later (rewards.services.valuation), so every ledger entry keeps the value in force at its moment. The
    first version starts at the earliest moment a merchant can have records (rewards.calendar)."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="point_values")
    effective_from = models.DateTimeField()
    value = models.DecimalField(max_digits=10, decimal_places=4)
    note = models.CharField(max_length=200, blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    set_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["program", "effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["program", "effective_from"], name="pointvalue_unique_start"),
            models.CheckConstraint(condition=Q(value__gt=0), name="pointvalue_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.value} from {timezone.localtime(self.effective_from):%Y-%m-%d %H:%M}"


class StoreMonthPoints(models.Model):
    """Ledger sums per calendar month (in the merchant's TIME_ZONE), store, kind and point value: the
    liability roll-forward reads these few rows instead of the ledger.

    Derived, like CustomerMonthPoints: every ledger write folds its entries in, in the same database
    transaction (rewards.services.ledger.post_entries -> rewards.services.liability.fold_into_liability), and
    `manage.py check_liability` proves it equals the ledger (`--repair` rebuilds it).

    An entry's store (`store_key`, a Store's id; 0 for none) is its transaction's store for earn and reversal
    entries and for the bonuses a purchase triggered (stamp card, referral); a redemption's store for a
    redemption and its undoing; and none for what no store did (enrolment, birthday and feedback bonuses, adjustments,
    expiries). All of it comes from what the ledger keeps for ever, so a closed month's figures by store
    never move. `point_value` is the version in force at the entry's moment.
    """

    NO_STORE = 0

    month = models.DateField(help_text="First day of the calendar month.")
    # Not a foreign key: 0 stands for "no store", and a unique key with a nullable column cannot serve an upsert.
    store_key = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=LedgerKind.choices)
    point_value = models.ForeignKey(PointValue, on_delete=models.PROTECT, related_name="+", db_index=False)
    points = models.BigIntegerField(default=0)
    entries = models.IntegerField(default=0)

    class Meta:
        verbose_name = "store month of points"
        verbose_name_plural = "store months of points (liability roll-up)"
        constraints = [
            models.UniqueConstraint(
                fields=["month", "store_key", "kind", "point_value"], name="storemonthpoints_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} store {self.store_key or '-'} {self.kind}: {self.points}"


class MonthClose(models.Model):
    """A manager's closing of a month's books: from then on nothing may be dated in it or before it
    (rewards.services.books). Months close in order, so the books are closed through the latest closed
    month. `figures` keeps the month's reports as they were at the close, which must reproduce exactly.
    Reopening (an owner, with a reason) is recorded on the row; a later close is a new row."""

    month = models.DateField(help_text="First day of the closed month.")
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(default=timezone.now)
    figures = models.JSONField(default=dict)
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-month", "-closed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["month"], condition=Q(reopened_at__isnull=True), name="monthclose_closed_once"
            ),
            models.CheckConstraint(
                condition=(Q(reopened_at__isnull=True) & Q(reopened_by__isnull=True) & Q(reopen_reason=""))
                | (Q(reopened_at__isnull=False) & Q(reopened_by__isnull=False) & ~Q(reopen_reason="")),
                name="monthclose_reopened_by_someone_for_a_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} closed" + (" (reopened)" if self.reopened_at else "")

    @property
    def is_closed(self) -> bool:
        return self.reopened_at is None


class BreakageEstimate(models.Model):
    """The expected breakage the merchant sets by hand, from a month on (until the next estimate): a rate
    in percent, or none to go back to the rate observed in the ledger. A month's estimate is the latest whose
    `effective_month` is not after it, so closed months keep theirs; a change applies from an open month."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="breakage_estimates")
    effective_month = models.DateField(help_text="First day of the first month the estimate applies to.")
    rate = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="Percent of points expected never to be used."
    )
    reason = models.CharField(max_length=200)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "effective_month"]
        constraints = [
            models.UniqueConstraint(fields=["program", "effective_month"], name="breakageestimate_one_per_month"),
            models.CheckConstraint(
                condition=Q(rate__isnull=True) | (Q(rate__gte=0) & Q(rate__lte=99)), name="breakageestimate_rate_range"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="breakageestimate_has_reason"),
        ]

    def __str__(self) -> str:
        shown = "observed" if self.rate is None else f"{self.rate}%"
        return f"breakage {shown} from {self.effective_month:%Y-%m}"


class DetachedLedgerMonth(models.Model):
    """A month whose ledger partition was detached (and perhaps archived with pg_dump) on PostgreSQL
    (rewards.services.archive). Its entries left the ledger, but for those something still counts one by one
    (`kept`, in a partition of the month's own, rewards_pointsentry_YYYY_MM_kept); what the others add to each
    member's figures is carried in CarriedPoints. The monthly and liability roll-ups keep the month's sums, so
    the checks that compare them with the ledger (check_points_rollup, check_liability) leave the month out,
    and their repairs never rebuild it."""

    month = models.DateField(unique=True, help_text="First day of the detached month.")
    detached_at = models.DateTimeField(default=timezone.now)
    entries = models.PositiveIntegerField()
    points = models.BigIntegerField(help_text="The sum of the detached entries' points.")
    kept = models.PositiveIntegerField(default=0, help_text="Entries kept in the ledger (something refers to them).")
    archive = models.CharField(max_length=500, blank=True, help_text="Where pg_dump wrote it, if it was archived.")

    class Meta:
        ordering = ["month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} detached"


class CarriedPoints(models.Model):
    """What a member's entries of a detached month, those that left the ledger, add to their live figures: the
    points (their balance) and the stamped earns (their stamp card's visits). Written once, when the month is
    detached (rewards.services.archive); the entries themselves are in the archive. Every whole-history figure
    of a member reads it beside their ledger (rewards.selectors.customer_balance, ...); the figures read from
    the monthly roll-up (reports, tiers, expiry lots) need nothing: the roll-up keeps the month."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="carried_points")
    month = models.DateField(help_text="First day of the detached month.")
    points = models.BigIntegerField()
    stamps = models.IntegerField(help_text="Stamped earn entries (stamp card visits).")
    entries = models.IntegerField(help_text="Entries that left the ledger.")

    class Meta:
        verbose_name_plural = "carried points of detached months"
        constraints = [
            # Also the index every balance read probes by customer.
            models.UniqueConstraint(fields=["customer", "month"], name="carriedpoints_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.month:%Y-%m} carried"
