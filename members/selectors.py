"""Reads for the members' pages (the card, the data download) and the managers' feedback report.

Every page runs a fixed number of queries whatever the data size (pinned in tests/members/test_pages.py);
the feedback report aggregates in SQL, months in the merchant's TIME_ZONE.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractMonth, ExtractYear
from django.utils import timezone

from customers.models import Customer
from loyalty_site.formatting import money
from rewards.calendar import add_months, months_from
from rewards.local_time import current_month, local_midnight, merchant_zone, month_of
from rewards.models import PointsEntry, Redemption, Reward
from rewards.selectors import CarriedLine, customer_tier_status, ledger_balance
from transactions.models import Transaction

from .models import Feedback, MailChoice, Membership, SentMail

# --- the card ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    """One line of the card's activity: what happened, its points and how they were made."""

    when: dt.datetime
    title: str
    points: int
    explanation: str
    kind: str


def _title(entry: PointsEntry) -> str:
    txn = entry.transaction
    if entry.kind == PointsEntry.Kind.EARN:
        return f"Purchase {money(txn.amount)} at {txn.store.name}"
    if entry.kind == PointsEntry.Kind.REVERSAL:
        return f"Refund {money(txn.amount)} at {txn.store.name}"
    if entry.kind == PointsEntry.Kind.BONUS and entry.bonus_key.startswith("referral:"):
        # The ledger's reason names the friend's member number: the card never shows another member's data.
        return "Referral bonus: a friend you referred made a first purchase"
    if entry.kind == PointsEntry.Kind.EXPIRY:
        return "Points expired"
    text = entry.reason or entry.get_kind_display()
    return text[:1].upper() + text[1:]


def _explanation(entry: PointsEntry) -> str:
    if entry.kind == PointsEntry.Kind.EARN:
        return entry.explanation
    if entry.kind == PointsEntry.Kind.BONUS and entry.bonus_key.startswith("referral:"):
        return ""
    if entry.kind in (PointsEntry.Kind.REVERSAL, PointsEntry.Kind.REDEMPTION, PointsEntry.Kind.EXPIRY):
        return entry.note
    if entry.kind == PointsEntry.Kind.BONUS:
        return entry.note
    return ""


# The kind of a card line for a detached month (not a ledger kind: no entry of the ledger stands behind it).
ARCHIVED = "archived"


def card_activity(customer_id: int, *, carried: Sequence[CarriedLine] = (), limit: int = 10) -> list[Activity]:
    """The member's latest ledger lines, newest first (one query, pointsentry_customer_idx), with a line for each
    detached month (`carried`, from rewards.selectors.ledger_balance: no query here) in date order among them,
    so that the lines add up to the balance."""
    entries = (
        PointsEntry.objects.filter(customer_id=customer_id)
        .select_related("transaction__store", "rule_version")
        .order_by("-effective_at", "-id")[:limit]
    )
    lines = [
        Activity(when=entry.effective_at, title=_title(entry), points=entry.points, explanation=_explanation(entry),
                 kind=entry.kind)
        for entry in entries
    ]  # fmt: skip
    archived = [
        Activity(
            when=line.when,
            title=line.title,
            points=line.points,
            explanation="Your entries of that month were archived; their points are in your balance.",
            kind=ARCHIVED,
        )
        for line in carried
    ]
    # A month's line is dated at its first moment, so the month's kept entries come above it (stable sort).
    return sorted(lines + archived, key=lambda activity: activity.when, reverse=True)[:limit]


def next_reward(balance: int, *, day: dt.date | None = None) -> Reward | None:
    """The cheapest active reward in stock that the balance does not reach yet (one query)."""
    day = day or timezone.localdate()
    return (
        Reward.objects.filter(program__is_default=True, points_cost__gt=balance)
        .filter(Q(active_from__isnull=True) | Q(active_from__lte=day))
        .filter(Q(active_until__isnull=True) | Q(active_until__gte=day))
        .filter(Q(stock__isnull=True) | Q(stock__gt=0))
        .order_by("points_cost", "name")
        .first()
    )


@dataclass(frozen=True)
class Referral:
    joined: dt.datetime
    bonus: int  # what the referrer earned for them (0 until their first purchase, or when the rule gives none)


def referrals_of(customer_id: int) -> list[Referral]:
    """The members this member referred (when they joined, nothing else about them) and the bonus each earned
    the referrer (two queries)."""
    referred = list(
        Customer.objects.filter(referred_by_id=customer_id).order_by("date_joined", "pk").values("pk", "date_joined")
    )
    if not referred:
        return []
    bonuses = dict(
        PointsEntry.objects.filter(
            customer_id=customer_id, kind=PointsEntry.Kind.BONUS, bonus_key__startswith="referral:"
        ).values_list("bonus_key", "points")
    )
    return [Referral(joined=row["date_joined"], bonus=bonuses.get(f"referral:{row['pk']}", 0)) for row in referred]


# --- the member's data (the card's download) ----------------------------------------------------------------


def _moment(value: dt.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value is not None else None


def member_data(customer: Customer) -> dict[str, Any]:
    """Everything the product keeps about the member, as JSON-ready data: who they are, their membership and
    email choices (with the words they agreed to), balance and tier, every transaction, ledger line,
    redemption and survey answer, the emails sent, and their referrals (dates and bonuses only)."""
    membership = Membership.objects.filter(pk=customer.pk).first()
    tier = customer_tier_status(customer.pk)
    parts = ledger_balance(customer.pk)
    return {
        "member": {
            "member_number": customer.member_number,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "birthday": customer.birthday.isoformat() if customer.birthday else None,
            "joined": _moment(customer.date_joined),
            "home_store": customer.home_store.name if customer.home_store_id else None,
            "referred_by_a_member": customer.referred_by_id is not None,
        },
        "membership": {
            "email_confirmed": _moment(membership.email_confirmed_at) if membership else None,
            "joined_online": _moment(membership.joined_online_at) if membership else None,
            "card_link_issued": _moment(membership.card_key_issued_at) if membership else None,
            "referral_code": membership.referral_code if membership else None,
        },
        "email_choices": [
            {
                "kind": row.kind,
                "subscribed": row.subscribed,
                "at": _moment(row.at),
                "wording": row.wording,
                "source": row.get_source_display(),
            }
            for row in MailChoice.objects.filter(customer=customer).order_by("at", "id")
        ],
        "points": {
            "balance": parts.balance,
            "tier": tier.tier.name if tier and tier.tier else None,
        },
        "transactions": [
            {
                "kind": t.kind,
                "receipt_number": t.receipt_number,
                "store": t.store.name,
                "amount": f"{t.amount:.2f}",
                "refunded": f"{t.refunded_amount:.2f}",
                "occurred_at": _moment(t.occurred_at),
            }
            for t in Transaction.objects.filter(customer=customer).select_related("store").order_by("occurred_at", "id")
        ],
        "points_ledger": [
            {"kind": a.kind, "points": a.points, "when": _moment(a.when), "what": a.title, "how": a.explanation}
            for a in reversed(card_activity(customer.pk, carried=parts.carried, limit=1_000_000))
        ],
        "redemptions": [
            {
                "reward": r.reward.name,
                "points": r.points,
                "redeemed_at": _moment(r.redeemed_at),
                "undone_at": _moment(r.undone_at),
            }
            for r in Redemption.objects.filter(customer=customer).select_related("reward").order_by("redeemed_at", "id")
        ],
        "feedback": [
            {
                "score": f.score,
                "comment": f.comment,
                "answered_at": _moment(f.answered_at),
                "about_receipt": f.transaction.receipt_number,
            }
            for f in Feedback.objects.filter(customer=customer).select_related("transaction").order_by("answered_at")
        ],
        "emails_sent": [
            {"kind": m.kind, "sent_at": _moment(m.sent_at)}
            for m in SentMail.objects.filter(customer=customer).order_by("sent_at", "id")
        ],
        "referrals": [{"joined": _moment(r.joined), "bonus_points": r.bonus} for r in referrals_of(customer.pk)],
    }


# --- the managers' feedback report (NPS) ---------------------------------------------------------------------

PROMOTER, PASSIVE, DETRACTOR = "promoter", "passive", "detractor"
CATEGORIES = (PROMOTER, PASSIVE, DETRACTOR)
CATEGORY_LABELS = {PROMOTER: "Promoters (9–10)", PASSIVE: "Passives (7–8)", DETRACTOR: "Detractors (0–6)"}
# The calendar months after the month of the answer whose spending the report follows.
MONTHS_AFTER = 3


def category_of(score_field: str = "score") -> Case:
    return Case(
        When(**{f"{score_field}__gte": 9}, then=Value(PROMOTER)),
        When(**{f"{score_field}__gte": 7}, then=Value(PASSIVE)),
        default=Value(DETRACTOR),
        output_field=CharField(),
    )


@dataclass
class Score:
    """Answers of a month (and store): the net promoter score is promoters less detractors, in % of answers."""

    answers: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def nps(self) -> int | None:
        if not self.answers:
            return None
        return round(100 * (self.promoters - self.detractors) / self.answers)

    @property
    def shown(self) -> str:
        """The score as a manager reads it: +25, 0, −100; a dash without answers."""
        nps = self.nps
        if nps is None:
            return "—"
        return f"+{nps}" if nps > 0 else (f"−{-nps}" if nps < 0 else "0")

    def add(self, other: Score) -> None:
        self.answers += other.answers
        self.promoters += other.promoters
        self.passives += other.passives
        self.detractors += other.detractors


@dataclass
class SpendAfter:
    category: str
    label: str
    respondents: int
    # Per month after the answer (1st, 2nd, 3rd): net spend, and the respondents whose month is over.
    spent: list[Decimal] = field(default_factory=list)
    counted: list[int] = field(default_factory=list)

    @property
    def averages(self) -> list[Decimal | None]:
        return [
            (total / count).quantize(Decimal("0.01")) if count else None
            for total, count in zip(self.spent, self.counted, strict=True)
        ]


@dataclass
class FeedbackReport:
    months: list[dt.date]
    stores: list[tuple[int, str]]
    by_month: dict[dt.date, Score]
    by_month_store: dict[tuple[dt.date, int], Score]
    total: Score
    by_store: dict[int, Score]
    distribution: list[int]  # answers per score 0..10
    comments: list[Feedback]
    spend_after: list[SpendAfter]


def _month_index(expression: str) -> ExpressionWrapper:
    zone = merchant_zone()
    return ExpressionWrapper(
        ExtractYear(expression, tzinfo=zone) * 12 + ExtractMonth(expression, tzinfo=zone), output_field=IntegerField()
    )


def feedback_report(*, start: dt.date, months: int, comments: int = 50) -> FeedbackReport:
    """The score by month and store, the distribution of answers, the latest comments, and what promoters,
    passives and detractors spent (net of refunds) in each of the MONTHS_AFTER calendar months after the month
    they answered: four queries whatever the number of answers."""
    wanted = months_from(start, months)
    first, end = local_midnight(wanted[0]), local_midnight(add_months(wanted[-1], 1))
    answers = Feedback.objects.filter(answered_at__gte=first, answered_at__lt=end)

    grid = (
        answers.annotate(month=month_of("answered_at"))
        .values("month", "transaction__store_id", "transaction__store__name")
        .annotate(
            answers=Count("id"),
            promoters=Count("id", filter=Q(score__gte=9)),
            passives=Count("id", filter=Q(score__gte=7, score__lte=8)),
            detractors=Count("id", filter=Q(score__lte=6)),
        )
        .order_by()
    )
    by_month = {month: Score() for month in wanted}
    by_month_store: dict[tuple[dt.date, int], Score] = {}
    by_store: dict[int, Score] = {}
    stores: dict[int, str] = {}
    total = Score()
    for row in grid:
        score = Score(row["answers"], row["promoters"], row["passives"], row["detractors"])
        store_id = row["transaction__store_id"]
        stores[store_id] = row["transaction__store__name"]
        by_month_store[(row["month"], store_id)] = score
        by_month[row["month"]].add(score)
        by_store.setdefault(store_id, Score()).add(score)
        total.add(score)

    counts = dict(answers.values("score").annotate(n=Count("id")).order_by().values_list("score", "n"))
    distribution = [counts.get(score, 0) for score in range(11)]

    latest = list(
        answers.exclude(comment="")
        .select_related("customer", "transaction__store")
        .order_by("-answered_at", "-id")[:comments]
    )

    # Spending after the answer: each answer joined to its member's transactions in the complete calendar months
    # after the month of the answer (txn_customer_recent_idx), grouped by category and month offset.
    this_month = current_month()
    offset = ExpressionWrapper(
        _month_index("customer__transactions__occurred_at") - _month_index("answered_at"), output_field=IntegerField()
    )
    signed_amount = Case(
        When(customer__transactions__kind=Transaction.Kind.REFUND, then=-F("customer__transactions__amount")),
        default=F("customer__transactions__amount"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    spend_rows = (
        answers.filter(
            customer__transactions__occurred_at__gte=F("answered_at"),
            customer__transactions__occurred_at__lt=local_midnight(this_month),
        )
        .annotate(category=category_of(), offset=offset)
        .filter(offset__gte=1, offset__lte=MONTHS_AFTER)
        .values("category", "offset")
        .annotate(spent=Coalesce(Sum(signed_amount), Value(Decimal(0)), output_field=DecimalField()))
        .order_by()
    )
    spent = {(row["category"], row["offset"]): row["spent"] for row in spend_rows}

    spend_after = []
    for category in CATEGORIES:
        attribute = f"{category}s"
        respondents = getattr(total, attribute)
        counted = [
            sum(getattr(score, attribute) for month, score in by_month.items() if add_months(month, k) < this_month)
            for k in range(1, MONTHS_AFTER + 1)
        ]
        spend_after.append(
            SpendAfter(
                category=category,
                label=CATEGORY_LABELS[category],
                respondents=respondents,
                spent=[Decimal(spent.get((category, k), 0)) for k in range(1, MONTHS_AFTER + 1)],
                counted=counted,
            )
        )
    return FeedbackReport(
        months=wanted,
        stores=sorted(stores.items(), key=lambda item: item[1]),
        by_month=by_month,
        by_month_store=by_month_store,
        total=total,
        by_store=by_store,
        distribution=distribution,
        comments=latest,
        spend_after=spend_after,
    )
