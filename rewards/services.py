"""Writes to the points ledger. Every entry reaches the ledger through `post_entries`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

import audit

from . import engine
from .controls import policy_changes
from .models import CustomerMonthPoints, PointsEntry, Program, ProgramDraft, Recalculation, RuleVersion
from .selectors import add_months, local_midnight, month_of, rule_version_at

# Ledger kind -> roll-up column.
ROLLUP_COLUMNS = {
    PointsEntry.Kind.EARN: "earned",
    PointsEntry.Kind.REVERSAL: "reversed",
    PointsEntry.Kind.BONUS: "bonus",
    PointsEntry.Kind.REDEMPTION: "redeemed",
    PointsEntry.Kind.EXPIRY: "expired",
    PointsEntry.Kind.ADJUSTMENT: "adjusted",
}


def post_entries(entries: Sequence[PointsEntry]) -> list[PointsEntry]:
    """Append entries to the ledger and fold them into the monthly roll-up, in one database transaction."""
    if not entries:
        return []
    with transaction.atomic():
        created = PointsEntry.objects.bulk_create(entries)
        fold_into_rollup(PointsEntry.objects.filter(pk__in=[entry.pk for entry in created]))
    return created


def rollup_rows(entries: QuerySet[PointsEntry]) -> QuerySet:
    """Ledger entries summed per customer and month (months decided in SQL), one column per kind."""
    sums = {column: Sum("points", filter=Q(kind=kind), default=0) for kind, column in ROLLUP_COLUMNS.items()}
    return (
        entries.order_by()
        .annotate(entry_month=month_of("effective_at"))
        .values("customer_id", "entry_month")
        .annotate(**sums, entries=Count("id"))
    )


def fold_into_rollup(entries: QuerySet[PointsEntry]) -> None:
    """Add these (new) entries to the roll-up with one INSERT ... SELECT ... ON CONFLICT DO UPDATE.

    The ORM builds the grouped SELECT (so the month is decided by the database in TIME_ZONE); the
    upsert that adds to existing rows is written here because the ORM cannot express it. Both
    SQLite and PostgreSQL accept this statement.
    """
    select_sql, params = rollup_rows(entries).query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(CustomerMonthPoints._meta.db_table)
    value_columns = [*ROLLUP_COLUMNS.values(), "entries"]
    insert_columns = ", ".join(quote(column) for column in ["customer_id", "month", *value_columns])
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in value_columns)
    # SQLite needs a WHERE in an upsert's SELECT to parse it; the grouped SELECT always filters.
    # Only identifiers from the model's metadata and the ORM's own SQL are interpolated; values are parameters.
    sql = (
        f"INSERT INTO {table} ({insert_columns}) SELECT * FROM ({select_sql}) AS batch WHERE 1 = 1 "  # noqa: S608
        f"ON CONFLICT ({quote('customer_id')}, {quote('month')}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def promotion_context(*, occurred_at: dt.datetime, store_code: str, rule: engine.Rule) -> dict[str, str]:
    """What a rule's promotions look at: the local date (in TIME_ZONE) and the store's code; empty
    when the rule has no promotions. Bulk writers (the importer) call this with what they hold."""
    if not rule.promotions:
        return {}
    return {"on": timezone.localdate(occurred_at).isoformat(), "store": store_code}


def purchase_context(purchase, rule: engine.Rule) -> dict[str, str]:
    """A purchase's promotion context. The store is read only when the rule has promotions, so
    recording under a rule without them costs no query."""
    if not rule.promotions:
        return {}
    return promotion_context(occurred_at=purchase.occurred_at, store_code=purchase.store.code, rule=rule)


def context_arguments(context: dict[str, str]) -> dict:
    if not context:
        return {}
    return {"on": dt.date.fromisoformat(context["on"]), "store": context["store"]}


def earn_entry(
    *, purchase, version: RuleVersion, rule: engine.Rule | None = None, tier_multiplier: Decimal = Decimal(1)
) -> tuple[PointsEntry, engine.Earning]:
    """The (unsaved) earn entry of a purchase under a rule version, and the engine's account of it.

    The purchase's context (local date, store code) is kept in the entry's detail, so that its refunds
    reverse under the same promotions without looking the purchase up again.
    """
    rule = rule or version.engine_rule()
    context = purchase_context(purchase, rule)
    earning = engine.earn(purchase.amount, rule, tier_multiplier=tier_multiplier, **context_arguments(context))
    detail = earning.as_dict()
    if context:
        detail["context"] = context
    entry = PointsEntry(
        customer_id=purchase.customer_id,
        kind=PointsEntry.Kind.EARN,
        points=earning.points,
        effective_at=purchase.occurred_at,
        transaction=purchase,
        rule_version=version,
        created_by=purchase.recorded_by,
        explanation=earning.explain(),
        detail=detail,
        stamped=rule.stamp_card is not None and rule.stamp_card.qualifies(purchase.amount),
    )
    return entry, earning


def reversal_entry(*, refund, purchase, refunded_before, earned: PointsEntry) -> PointsEntry:
    """The (unsaved) reversal of a refund, by the rule version its purchase earned with and in the
    purchase's context (its day and store) as its earn entry recorded it, so the remainder keeps the
    purchase's promotions.

    An earn entry without a recorded context earned without promotions (one written before promotions
    existed, or by a bulk writer that computes `engine.earn(amount, rule)` itself): its refunds reverse
    the same way, so the purchase's points and its reversals always add up, and the purchase row is not
    read (bulk writers pass unsaved stand-ins).
    """
    version = earned.rule_version
    rule = version.engine_rule()
    context = (earned.detail or {}).get("context") or {}
    # The multiplier of the customer's tier when the purchase earned, kept in the earn entry's detail.
    arguments = {
        **context_arguments(context),
        "tier_multiplier": Decimal((earned.detail or {}).get("tier_multiplier", "1")),
    }
    points = engine.reversal(
        purchase_amount=purchase.amount,
        refunded_before=refunded_before,
        refund=refund.amount,
        rule=rule,
        **arguments,
    )
    remaining = purchase.amount - refunded_before - refund.amount
    return PointsEntry(
        customer_id=purchase.customer_id,
        kind=PointsEntry.Kind.REVERSAL,
        points=points,
        effective_at=refund.occurred_at,
        transaction=refund,
        rule_version=version,
        created_by=refund.recorded_by,
        corrects=earned,
        explanation=(
            f"refund of {refund.amount:.2f} from {purchase.amount:.2f} (receipt {purchase.receipt_number}); "
            f"{remaining:.2f} left earns {engine.earn(remaining, rule, **arguments).points} "
            f"under the purchase's rule: {points}"
        ),
        detail={"refund": f"{refund.amount:.2f}", "refunded_before": f"{refunded_before:.2f}", "points": points},
    )


# ---------------------------------------------------------------------------------------------------
# Bonuses: the stamp card and the bonus actions. Keyed bonuses are given once per customer (a unique
# constraint on (customer, bonus_key) is the guarantee; the checks here only avoid tripping it).


def purchase_bonus_entries(
    *, purchase, version: RuleVersion, entry: PointsEntry, rule: engine.Rule | None = None
) -> list[PointsEntry]:
    """The (unsaved) bonus entries a purchase triggers beside its earn `entry` (not yet in the ledger):
    the stamp card's bonus on every Nth qualifying visit, and the referrer's bonus on a referred
    customer's first purchase.

    Call inside the purchase's database transaction, after locking the customer's row
    (`lock_customer`), so two purchases of one customer cannot count the same visit.
    Visits are counted over the customer's stamped earn entries: every purchase that qualified under a
    version with a stamp card. Refunds do not take stamps back (the visit happened).
    """
    rule = rule or version.engine_rule()
    bonuses = []
    card = rule.stamp_card
    if card is not None and entry.stamped:
        visit = PointsEntry.objects.filter(customer_id=purchase.customer_id, kind="earn", stamped=True).count() + 1
        if points := card.bonus_for_visit(visit):
            bonuses.append(
                PointsEntry(
                    customer_id=purchase.customer_id,
                    kind=PointsEntry.Kind.BONUS,
                    points=points,
                    effective_at=purchase.occurred_at,
                    transaction=purchase,
                    rule_version=version,
                    created_by=purchase.recorded_by,
                    reason=f"stamp card: {_ordinal(visit)} qualifying visit",
                    explanation=f"every {card.every} qualifying visits earn {card.bonus}: visit {visit}",
                    bonus_key=f"stamp:{visit}",
                    detail={"visit": visit, "every": card.every},
                )
            )
    referrer_id = purchase.customer.referred_by_id
    if referrer_id and rule.bonuses.referral:
        first = not purchase.customer.transactions.filter(kind="purchase").exclude(pk=purchase.pk).exists()
        key = f"referral:{purchase.customer_id}"
        if first and not PointsEntry.objects.filter(customer_id=referrer_id, kind="bonus", bonus_key=key).exists():
            bonuses.append(
                PointsEntry(
                    customer_id=referrer_id,
                    kind=PointsEntry.Kind.BONUS,
                    points=rule.bonuses.referral,
                    effective_at=purchase.occurred_at,
                    transaction=purchase,
                    rule_version=version,
                    created_by=purchase.recorded_by,
                    reason=f"referral: {purchase.customer.member_number} made a first purchase",
                    bonus_key=key,
                )
            )
    return bonuses


def lock_customer(customer_id: int) -> None:
    """Serialise the writes that count a customer's history (stamp visits, first purchase)."""
    from customers.models import Customer

    list(Customer.objects.select_for_update().filter(pk=customer_id).values_list("pk", flat=True))


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


class BonusAction(models.TextChoices):
    ENROLMENT = "enrolment", "Enrolment bonus"
    BIRTHDAY = "birthday", "Birthday bonus"
    REFERRAL = "referral", "Referral bonus"


class BonusRefused(ValueError):
    """A bonus that cannot be awarded: the program gives none, or the customer already has it."""


def bonus_key(action: str, *, year: int | None = None, referred_id: int | None = None) -> str:
    if action == BonusAction.BIRTHDAY:
        return f"birthday:{year}"
    if action == BonusAction.REFERRAL:
        return f"referral:{referred_id}"
    return "enrolment"


def award_bonus(
    *,
    customer,
    action: str,
    awarded_by=None,
    moment: dt.datetime | None = None,
    referred=None,
    program: Program | None = None,
) -> PointsEntry:
    """Award a bonus action to a customer once: the enrolment bonus, this year's birthday bonus, or the
    referral bonus for `referred` (a customer they referred). Points come from the rule version in force
    at `moment` (now by default). Refused with BonusRefused when the program gives no such bonus or the
    customer already has it (the unique key is the guarantee, also against two staff clicking at once).
    """
    moment = moment or timezone.now()
    version = rule_version_at(moment, program)
    rule = version.engine_rule()
    points = getattr(rule.bonuses, str(action))
    label = BonusAction(action).label
    if not points:
        raise BonusRefused(f"The program gives no {label.lower()}.")
    if action == BonusAction.REFERRAL:
        if referred is None or referred.referred_by_id != customer.pk:
            raise BonusRefused(f"{customer.name} did not refer that customer.")
        reason = f"referral: {referred.member_number} joined on their recommendation"
    elif action == BonusAction.BIRTHDAY:
        reason = f"birthday bonus {timezone.localdate(moment).year}"
    else:
        reason = "enrolment bonus"
    key = bonus_key(
        action, year=timezone.localdate(moment).year, referred_id=referred.pk if referred is not None else None
    )
    entry = PointsEntry(
        customer_id=customer.pk,
        kind=PointsEntry.Kind.BONUS,
        points=points,
        effective_at=moment,
        rule_version=version,
        created_by=awarded_by,
        reason=reason,
        bonus_key=key,
    )
    try:
        with transaction.atomic():
            post_entries([entry])
    except IntegrityError:
        raise BonusRefused(f"{customer.name} already has the {label.lower()} ({key}).") from None
    return entry


def award_enrolment_bonus(*, customer, awarded_by=None) -> PointsEntry | None:
    """The enrolment bonus of the version in force when the customer joined, if the program gives one."""
    try:
        return award_bonus(
            customer=customer, action=BonusAction.ENROLMENT, awarded_by=awarded_by, moment=customer.date_joined
        )
    except (BonusRefused, LookupError):
        return None


def award_birthday_bonuses(*, day: dt.date | None = None, program: Program | None = None) -> int:
    """Award the birthday bonus to every customer whose birthday month is `day`'s month (a local date,
    today by default) and who has no birthday bonus for that year yet. Returns how many were awarded.

    Safe to run twice, also at the same time: customers already awarded are left out, and the unique
    (customer, "birthday:<year>") key stops a concurrent run from awarding again (it is retried once).
    """
    from customers.models import Customer

    today = timezone.localdate()
    day = day or today
    moment = timezone.now() if day == today else local_midnight(day)
    version = rule_version_at(moment, program)
    points = version.engine_rule().bonuses.birthday
    if not points:
        return 0
    key = bonus_key(BonusAction.BIRTHDAY, year=day.year)
    for attempt in range(2):
        awarded = PointsEntry.objects.filter(kind="bonus", bonus_key=key).values("customer_id")
        due = Customer.objects.filter(birthday__month=day.month).exclude(pk__in=awarded).values_list("pk", flat=True)
        entries = [
            PointsEntry(
                customer_id=customer_id,
                kind=PointsEntry.Kind.BONUS,
                points=points,
                effective_at=moment,
                rule_version=version,
                reason=f"birthday bonus {day.year}",
                bonus_key=key,
            )
            for customer_id in due.iterator(chunk_size=2000)
        ]
        try:
            with transaction.atomic():
                post_entries(entries)
            return len(entries)
        except IntegrityError:
            if attempt:
                raise
    return 0


def publish_rule_version(
    *, program, rule: engine.Rule, effective_from, published_by=None, note: str = ""
) -> RuleVersion:
    """Publish a new rule version from `effective_from` (now or later). Earlier versions are never edited."""
    version = RuleVersion.objects.create(
        program=program, effective_from=effective_from, rule=rule.to_dict(), note=note, published_by=published_by
    )
    audit.record(
        audit.Event.RULE_PUBLISHED,
        actor=published_by,
        target=version,
        detail={"effective_from": effective_from, "rule": version.rule, "note": note},
    )
    return version


# ---------------------------------------------------------------------------------------------------
# Proving the roll-up equals the ledger, and rebuilding it.

ROLLUP_VALUE_COLUMNS = (*ROLLUP_COLUMNS.values(), "entries")


@dataclass(frozen=True)
class RollupDifference:
    """A customer-month where the roll-up and the ledger disagree; None on the side that has no row."""

    customer_id: int
    month: dt.date
    ledger: dict[str, int] | None
    rollup: dict[str, int] | None


def rollup_differences() -> list[RollupDifference]:
    """Every customer-month where the roll-up differs from the ledger grouped the same way, found in SQL
    (one FULL OUTER JOIN of the grouped ledger and the roll-up table)."""
    ledger_sql, params = rollup_rows(PointsEntry.objects.all()).query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(CustomerMonthPoints._meta.db_table)
    columns = [quote(column) for column in ROLLUP_VALUE_COLUMNS]
    differs = " OR ".join(f"ledger.{c} <> rollup.{c}" for c in columns)
    # Only identifiers from the model's metadata and the ORM's own SQL are interpolated; values are parameters.
    sql = (
        f"SELECT COALESCE(ledger.customer_id, rollup.customer_id), COALESCE(ledger.entry_month, rollup.month), "  # noqa: S608
        f"ledger.customer_id IS NOT NULL, rollup.customer_id IS NOT NULL, "
        f"{', '.join(f'ledger.{c}' for c in columns)}, {', '.join(f'rollup.{c}' for c in columns)} "
        f"FROM ({ledger_sql}) AS ledger FULL OUTER JOIN {table} AS rollup "
        f"ON rollup.customer_id = ledger.customer_id AND rollup.month = ledger.entry_month "
        f"WHERE ledger.customer_id IS NULL OR rollup.customer_id IS NULL OR {differs} "
        f"ORDER BY 1, 2"
    )
    width = len(columns)
    differences = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for customer_id, month, in_ledger, in_rollup, *values in cursor.fetchall():
            if isinstance(month, str):  # SQLite hands dates back as text
                month = dt.date.fromisoformat(month[:10])
            elif isinstance(month, dt.datetime):
                month = month.date()
            ledger = dict(zip(ROLLUP_VALUE_COLUMNS, values[:width], strict=True)) if in_ledger else None
            rollup = dict(zip(ROLLUP_VALUE_COLUMNS, values[width:], strict=True)) if in_rollup else None
            differences.append(RollupDifference(customer_id, month, ledger, rollup))
    return differences


def rebuild_rollup() -> int:
    """Rebuild the whole roll-up from the ledger, atomically. Returns the number of roll-up rows."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No ledger write may slip in between the delete and the rebuild.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(PointsEntry._meta.db_table)} IN SHARE MODE")
        CustomerMonthPoints.objects.all().delete()
        fold_into_rollup(PointsEntry.objects.all())
        return CustomerMonthPoints.objects.count()


class PublishRefused(ValueError):
    """A version that would start in the past: history is never rewritten."""


# A form submitted "now" reaches the service a moment later; this much is still "now".
NOW_TOLERANCE = dt.timedelta(minutes=1)


def save_draft(*, program: Program, rule: engine.Rule, author) -> ProgramDraft:
    """Save (create or replace) the program's draft rule. Nothing about earning changes."""
    draft, _ = ProgramDraft.objects.update_or_create(
        program=program, defaults={"rule": rule.to_dict(), "author": author, "updated_at": timezone.now()}
    )
    return draft


def publish_draft(
    *, draft: ProgramDraft, published_by, effective_from: dt.datetime | None = None, note: str = ""
) -> RuleVersion:
    """Publish the draft as a new rule version from `effective_from` (now by default, or later; never the
    past) and remove the draft. Purchases from that moment earn by it; nothing earlier changes."""
    now = timezone.now()
    effective_from = effective_from or now
    if timezone.is_naive(effective_from):
        raise ValueError("effective_from must be timezone-aware")
    if effective_from < now - NOW_TOLERANCE:
        raise PublishRefused("A new version cannot start in the past: history is never rewritten.")
    with transaction.atomic():
        locked = ProgramDraft.objects.select_for_update().get(pk=draft.pk)
        version = publish_rule_version(
            program=locked.program,
            rule=locked.engine_rule(),
            effective_from=max(effective_from, now),
            published_by=published_by,
            note=note,
        )
        locked.delete()
    return version


# ---------------------------------------------------------------------------------------------------
# Recalculation: the one way to re-rate a past period. It posts adjustments; it never edits an entry.


class NothingToRecalculate(ValueError):
    """The period already holds exactly the points of the chosen version: no adjustment to post."""


class RecalculationRefused(NothingToRecalculate):
    """A period a recalculation cannot re-rate faithfully (purchases earned with tier multipliers): nothing
    is posted. (A kind of NothingToRecalculate, so the page shows its message the same way.)"""


def recalculate(*, program: Program, version: RuleVersion, first_month: dt.date, months: int, author) -> Recalculation:
    """Re-rate the period's transactions under `version` and post, per customer and month, an adjustment
    of the difference (created_by `author`, reason "recalculation #N ..."), recorded as a Recalculation.

    The differences are computed afresh here, inside a lock on the program, from what the ledger holds
    now (earlier recalculations of those months included), so running the same recalculation twice posts
    nothing the second time.
    """
    from .simulation import compare

    if version.program_id != program.pk:
        raise ValueError("the version belongs to another program")
    if first_month.day != 1:
        raise ValueError("a period starts on the first day of a month")
    # The replay knows the rule, not the tiers: it would take back what tier multipliers added.
    start, end = local_midnight(first_month), local_midnight(add_months(first_month, months))
    if PointsEntry.objects.filter(
        kind="earn", effective_at__gte=start, effective_at__lt=end, detail__has_key="tier_multiplier"
    ).exists():
        raise RecalculationRefused(
            "Purchases of this period earned with a tier multiplier, which a recalculation cannot replay yet: "
            "nothing was posted."
        )
    with transaction.atomic():
        list(Program.objects.select_for_update().filter(pk=program.pk).values_list("pk", flat=True))
        changed = compare(rule=version.engine_rule(), first_month=first_month, months=months, program=program).changed()
        if not changed:
            raise NothingToRecalculate("Nothing to adjust: the period already earns exactly that.")
        recalculation = Recalculation.objects.create(
            program=program,
            rule_version=version,
            first_month=first_month,
            months=months,
            author=author,
            customers=len({row.customer_id for row in changed}),
            points=sum(row.difference for row in changed),
        )
        last = add_months(first_month, months - 1)
        reason = (
            f"recalculation #{recalculation.pk}: {first_month:%Y-%m} to {last:%Y-%m} under the version from "
            f"{timezone.localtime(version.effective_from):%Y-%m-%d %H:%M}"
        )
        post_entries(
            [
                PointsEntry(
                    customer_id=row.customer_id,
                    kind=PointsEntry.Kind.ADJUSTMENT,
                    points=row.difference,
                    # In the month it corrects, so that month's figures (and a second preview) include it.
                    effective_at=local_midnight(row.month),
                    rule_version=version,
                    created_by=author,
                    reason=reason[:200],
                    explanation=f"{row.month:%Y-%m}: {row.actual} recorded, {row.draft} under that version",
                    detail={"month": row.month.isoformat(), "recorded": row.actual, "recalculated": row.draft},
                    recalculation=recalculation,
                )
                for row in changed
            ]
        )
    return recalculation


# ---------------------------------------------------------------------------------------------------
# Rewards: redeeming at the till, and undoing a redemption.


class RedemptionRefused(ValueError):
    """A redemption that cannot be made: not enough points, out of stock, over the limit, not active."""


class UndoRefused(PermissionError):
    """An undo that this user may not make (a past day's redemption needs a manager), or one already undone."""


def reward_available_on(reward, day: dt.date) -> bool:
    return (reward.active_from is None or reward.active_from <= day) and (
        reward.active_until is None or day <= reward.active_until
    )


def redeem(*, customer, reward, store, redeemed_by, idempotency_key=None, moment: dt.datetime | None = None):
    """Redeem `reward` for `customer`: post a redemption entry of its cost and record the Redemption.

    The customer's row is locked first (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers),
    so two tills redeeming for the same customer at once are judged one after the other, each against
    the balance the other left: the balance never goes below zero. Stock is taken with a conditional
    UPDATE (stock > 0), so the last one cannot go twice. With an idempotency key, a resubmitted form
    returns the first redemption.
    """
    from customers.models import Customer

    from .models import Redemption, Reward
    from .selectors import customer_balance

    if idempotency_key is not None and (earlier := Redemption.objects.filter(idempotency_key=idempotency_key).first()):
        if (earlier.customer_id, earlier.reward_id) != (customer.pk, reward.pk):
            raise RedemptionRefused("This form was already used for another redemption: start again from the till.")
        return earlier
    moment = moment or timezone.now()
    with transaction.atomic():
        Customer.objects.select_for_update().only("pk").get(pk=customer.pk)
        # The reward as it is now (a manager may have changed its cost since the page was shown).
        reward = Reward.objects.select_related("min_tier").get(pk=reward.pk)
        if not reward_available_on(reward, timezone.localdate(moment)):
            raise RedemptionRefused(f"{reward.name} is not available today.")
        if reward.min_tier_id is not None:
            from .models import CustomerTier

            held = CustomerTier.objects.filter(customer_id=customer.pk).values_list("tier__rank", flat=True).first()
            if held is None or held < reward.min_tier.rank:
                raise RedemptionRefused(f"{reward.name} is for {reward.min_tier.name} members and above.")
        balance = customer_balance(customer.pk)
        if balance < reward.points_cost:
            raise RedemptionRefused(f"{customer.name} has {balance} points; {reward.name} needs {reward.points_cost}.")
        if reward.per_customer_limit is not None:
            taken = Redemption.objects.filter(customer_id=customer.pk, reward=reward, undone_at__isnull=True).count()
            if taken >= reward.per_customer_limit:
                raise RedemptionRefused(
                    f"{customer.name} has already redeemed {reward.name} {taken} times (the limit is "
                    f"{reward.per_customer_limit})."
                )
        in_stock = reward.stock is None or Reward.objects.filter(pk=reward.pk, stock__gt=0).update(
            stock=models.F("stock") - 1
        )
        if not in_stock:
            raise RedemptionRefused(f"{reward.name} is out of stock.")
        [entry] = post_entries(
            [
                PointsEntry(
                    customer_id=customer.pk,
                    kind=PointsEntry.Kind.REDEMPTION,
                    points=-reward.points_cost,
                    effective_at=moment,
                    created_by=redeemed_by,
                    reason=f"redeemed {reward.name}"[:200],
                    explanation=f"{reward.name}: {reward.gives()}",
                    detail={"reward": reward.pk, "store": store.pk},
                )
            ]
        )
        return Redemption.objects.create(
            customer_id=customer.pk,
            reward=reward,
            points=reward.points_cost,
            store=store,
            redeemed_by=redeemed_by,
            redeemed_at=moment,
            entry=entry,
            idempotency_key=idempotency_key,
        )


def can_undo_redemption(redemption, user, *, today: dt.date | None = None) -> bool:
    """Store staff may undo a redemption the same (local) day; later only a manager."""
    from loyalty_site.access import is_manager, is_store_staff

    if redemption.undone:
        return False
    if is_manager(user):
        return True
    today = today or timezone.localdate()
    return is_store_staff(user) and timezone.localdate(redemption.redeemed_at) == today


def undo_redemption(*, redemption, undone_by, moment: dt.datetime | None = None):
    """Give the points of a redemption back: a redemption entry of +points that corrects the first, and the
    reward's stock back. The Redemption row records who undid it and when. Refused with UndoRefused when
    the user may not undo it (see can_undo_redemption) or it is already undone (also under a race: the
    conditional UPDATE claims it once)."""
    from .models import Redemption, Reward

    moment = moment or timezone.now()
    if not can_undo_redemption(redemption, undone_by, today=timezone.localdate(moment)):
        if redemption.undone:
            raise UndoRefused("This redemption was already undone.")
        raise UndoRefused("A redemption from an earlier day can be undone only by a manager.")
    with transaction.atomic():
        [entry] = post_entries(
            [
                PointsEntry(
                    customer_id=redemption.customer_id,
                    kind=PointsEntry.Kind.REDEMPTION,
                    points=redemption.points,
                    effective_at=moment,
                    created_by=undone_by,
                    corrects_id=redemption.entry_id,
                    reason=f"undo redemption #{redemption.pk}",
                    explanation=f"undo of {redemption.reward.name}, redeemed "
                    f"{timezone.localtime(redemption.redeemed_at):%Y-%m-%d %H:%M}",
                    detail={"redemption": redemption.pk},
                )
            ]
        )
        claimed = Redemption.objects.filter(pk=redemption.pk, undone_at__isnull=True).update(
            undone_at=moment, undone_by=undone_by, undo_entry=entry
        )
        if not claimed:
            raise UndoRefused("This redemption was already undone.")  # rolls the entry back
        Reward.objects.filter(pk=redemption.reward_id, stock__isnull=False).update(stock=models.F("stock") + 1)
        audit.record(
            audit.Event.REDEMPTION_UNDONE,
            actor=undone_by,
            target=redemption.customer,
            detail={
                "redemption": redemption.pk,
                "reward": redemption.reward.name,
                "points": redemption.points,
                "redeemed_at": redemption.redeemed_at,
            },
        )
    redemption.refresh_from_db()
    return redemption


def save_reward(*, reward, program: Program | None = None):
    """Create or change a catalog reward (of the default program unless told). Past redemptions keep the
    points they spent: a Redemption records its own cost."""
    from .selectors import default_program

    if reward.program_id is None:
        reward.program = program or default_program()
    reward.full_clean()
    reward.save()
    return reward


# ---------------------------------------------------------------------------------------------------
# Manual adjustments: within the program's threshold they post at once; above it a second manager approves.


class AdjustmentRefused(ValueError):
    """An adjustment that cannot be requested or approved (no reason, own request, would go below zero...)."""


def _adjustment_entry(request, *, posted_by, moment: dt.datetime) -> PointsEntry:
    approved = request.decided_by is not None
    return PointsEntry(
        customer_id=request.customer_id,
        kind=PointsEntry.Kind.ADJUSTMENT,
        points=request.points,
        effective_at=moment,
        created_by=posted_by,
        reason=request.reason,
        explanation=f"requested by {request.requested_by.get_username()}"
        + (f", approved by {request.decided_by.get_username()}" if approved else ""),
        detail={
            "adjustment_request": request.pk,
            "requested_by": request.requested_by_id,
            "approved_by": request.decided_by_id,
        },
    )


def _check_not_below_zero(customer_id: int, points: int, program: Program) -> None:
    """A deduction may not take a balance below zero unless the program allows a negative balance."""
    if points >= 0 or program.negative_balance_policy == Program.NegativeBalance.ALLOW:
        return
    lock_customer(customer_id)
    from .selectors import customer_balance

    balance = customer_balance(customer_id)
    if balance + points < 0:
        raise AdjustmentRefused(f"Deducting {-points} points would take the balance of {balance} below zero.")


def request_adjustment(*, customer, points: int, reason: str, requested_by, moment: dt.datetime | None = None):
    """Add (points > 0) or deduct (points < 0) points by hand, with a reason. Within the program's approval
    threshold the adjustment entry posts at once; above it the request waits for a second manager."""
    from .models import AdjustmentRequest
    from .selectors import default_program

    reason = (reason or "").strip()
    if not reason:
        raise AdjustmentRefused("Say why: an adjustment needs a reason.")
    if not points:
        raise AdjustmentRefused("An adjustment moves at least one point.")
    moment = moment or timezone.now()
    program = default_program()
    needs_approval = abs(points) > program.adjustment_approval_threshold
    with transaction.atomic():
        if not needs_approval:
            _check_not_below_zero(customer.pk, points, program)
        request = AdjustmentRequest.objects.create(
            customer_id=customer.pk, points=points, reason=reason[:200], requested_by=requested_by, requested_at=moment
        )
        if not needs_approval:
            [entry] = post_entries([_adjustment_entry(request, posted_by=requested_by, moment=moment)])
            request.status, request.entry = AdjustmentRequest.Status.POSTED, entry
            request.save(update_fields=["status", "entry"])
        audit.record(
            audit.Event.ADJUSTMENT_REQUESTED,
            actor=requested_by,
            target=customer,
            detail={"request": request.pk, "points": points, "reason": request.reason, "status": request.status},
        )
    return request


def decide_adjustment(*, request, decided_by, approve: bool, moment: dt.datetime | None = None):
    """A second manager approves (posting the adjustment entry, in their name) or rejects a pending request.
    The requester cannot decide their own; a request is decided once (a conditional UPDATE claims it)."""
    from .models import AdjustmentRequest
    from .selectors import default_program

    if request.requested_by_id == decided_by.pk:
        raise AdjustmentRefused("Another manager must approve an adjustment you asked for.")
    moment = moment or timezone.now()
    with transaction.atomic():
        changes = {"status": AdjustmentRequest.Status.REJECTED, "decided_by": decided_by, "decided_at": moment}
        if approve:
            _check_not_below_zero(request.customer_id, request.points, default_program())
            request.decided_by = decided_by
            [entry] = post_entries([_adjustment_entry(request, posted_by=decided_by, moment=moment)])
            changes.update(status=AdjustmentRequest.Status.POSTED, entry=entry)
        claimed = AdjustmentRequest.objects.filter(pk=request.pk, status=AdjustmentRequest.Status.PENDING).update(
            **changes
        )
        if not claimed:
            raise AdjustmentRefused("This request was already decided.")  # and the entry rolls back
        audit.record(
            audit.Event.ADJUSTMENT_APPROVED if approve else audit.Event.ADJUSTMENT_REJECTED,
            actor=decided_by,
            target=request.customer,
            detail={
                "request": request.pk,
                "points": request.points,
                "reason": request.reason,
                "requested_by": request.requested_by.get_username(),
            },
        )
    request.refresh_from_db()
    return request


def save_program_policies(*, program: Program, changed_by, **settings) -> Program:
    """Change the program's policies (see PoliciesForm's fields). Only the named fields are written.
    Loosening a control is for owners (rewards.controls: ControlWeakeningRefused); each change is recorded."""
    changes = policy_changes(program=program, changed_by=changed_by, settings=settings)
    for name, value in settings.items():
        setattr(program, name, value)
    program.full_clean()
    program.save(update_fields=list(settings))
    if changes:
        audit.record(audit.Event.POLICY_CHANGED, actor=changed_by, target=program, changes=changes)
    return program


# ---------------------------------------------------------------------------------------------------
# Expiry: the policy history, and the daily run that posts what lapsed.


class PolicyRefused(ValueError):
    """A policy change that would start in the past or in the current month."""


def set_expiry_policy(
    *, program: Program, kind: str, months: int = 0, changed_by, effective_month: dt.date | None = None
):
    """Record the expiry rule from the start of a future month (next month by default). Points earned
    before then keep the rule of their month; a change scheduled for the same month is replaced."""
    from .models import ExpiryPolicy
    from .selectors import current_month

    first_allowed = add_months(current_month(), 1)
    effective_month = effective_month or first_allowed
    if effective_month.day != 1:
        raise PolicyRefused("A policy starts on the first day of a month.")
    if effective_month < first_allowed:
        raise PolicyRefused("A policy change starts next month at the earliest: this month's points keep their rule.")
    policy, _ = ExpiryPolicy.objects.update_or_create(
        program=program,
        effective_month=effective_month,
        defaults={
            "kind": kind,
            "months": 0 if kind == "never" else months,
            "changed_by": changed_by,
            "changed_at": timezone.now(),
        },
    )
    audit.record(
        audit.Event.POLICY_CHANGED,
        actor=changed_by,
        target=program,
        changes={f"expiry from {effective_month:%Y-%m}": (None, policy.engine_rule().describe())},
    )
    return policy


CUSTOMERS_PER_PAGE = 2000


def expire_points(*, day: dt.date | None = None, program: Program | None = None) -> int:
    """Post an expiry entry for every lot (a customer's points of one month) that has lapsed by `day` (a
    local date, today by default) and was not expired yet. Returns the number of entries posted.

    Safe to run twice, also at once: each lot's entry carries the key "expiry:YYYY-MM", unique per
    customer. Run late, it catches up exactly: a lot lapses at its due month's start, computed from the
    months before it, and the entry is dated then. Points spent since the due moment (before the late
    run) cannot be taken twice, so an expiry is capped at the customer's balance and never makes it negative.
    """
    from .selectors import ROLLUP_FIELDS, ExpiryTimeline, customer_balance, expiry_key, lot_of_key, months_of_points

    day = day or timezone.localdate()
    timeline = ExpiryTimeline(program)
    if not timeline.ever_expires:
        return 0
    until = day.replace(day=1)
    posted = 0
    # The roll-up read by customer (its unique (customer, month) index serves it).
    rows = CustomerMonthPoints.objects.order_by("customer_id", "month").values(*ROLLUP_FIELDS)
    keys: dict[int, set] = {}
    for customer_id, key in (
        PointsEntry.objects.filter(kind="expiry").exclude(bonus_key="").values_list("customer_id", "bonus_key")
    ):
        keys.setdefault(customer_id, set()).add(lot_of_key(key))

    def settle(customer_id: int, months: list) -> int:
        found = engine.lapses(
            months_of_points(months), timeline.rule_of, expired=dict.fromkeys(keys.get(customer_id, ()), 1), until=until
        )
        if not found:
            return 0
        with transaction.atomic():
            lock_customer(customer_id)
            balance = customer_balance(customer_id)
            entries = []
            for lapse in found:
                points = min(lapse.points, max(balance, 0))
                balance -= points
                entries.append(
                    PointsEntry(
                        customer_id=customer_id,
                        kind=PointsEntry.Kind.EXPIRY,
                        points=-points,
                        effective_at=local_midnight(lapse.due),
                        reason=f"points earned in {lapse.lot:%Y-%m} expired: {lapse.rule.describe()}"[:200],
                        explanation=f"{lapse.points} left of {lapse.lot:%Y-%m} at {lapse.due:%Y-%m-%d}"
                        + (f", {points} still in the balance" if points != lapse.points else ""),
                        bonus_key=expiry_key(lapse.lot),
                        detail={"lot": lapse.lot.isoformat(), "due": lapse.due.isoformat(), "left": lapse.points},
                    )
                )
            try:
                with transaction.atomic():
                    post_entries(entries)
            except IntegrityError:
                return 0  # a concurrent run posted them first
        return len(entries)

    # Customers in pages of ids, so no cursor stays open while entries are written.
    last = 0
    while True:
        page = list(
            CustomerMonthPoints.objects.filter(customer_id__gt=last)
            .order_by("customer_id")
            .values_list("customer_id", flat=True)
            .distinct()[:CUSTOMERS_PER_PAGE]
        )
        if not page:
            break
        last = page[-1]
        by_customer: dict[int, list] = {}
        for row in rows.filter(customer_id__in=page):
            by_customer.setdefault(row["customer_id"], []).append(row)
        for customer_id, months in by_customer.items():
            posted += settle(customer_id, months)
    return posted


# ---------------------------------------------------------------------------------------------------
# Tiers: up at once when a purchase qualifies, down by the daily review under the program's setting.


def tier_multiplier_of(customer_id: int) -> Decimal:
    """The multiplier of the tier the customer holds now (1 without a tier)."""
    from .models import CustomerTier

    found = CustomerTier.objects.filter(customer_id=customer_id).values_list("tier__multiplier", flat=True).first()
    return found if found is not None else Decimal(1)


def move_up_if_qualified(*, customer_id: int, moment: dt.datetime) -> None:
    """After a purchase (in its database transaction): move the customer up to the highest tier their points
    earned within the window now reach, if that is above the one they hold. Never moves down."""
    from .models import CustomerTier
    from .selectors import points_earned_in_window, program_tiers, qualifying_tier

    tiers = program_tiers()
    if not tiers:
        return
    earned = points_earned_in_window(customer_id, day=timezone.localdate(moment))
    reached = qualifying_tier(tiers, earned)
    if reached is None:
        return
    # Two tills recording for one customer at once: the customer's row lock lets one create their tier row.
    lock_customer(customer_id)
    held = CustomerTier.objects.filter(customer_id=customer_id).select_related("tier").first()
    if held is None:
        CustomerTier.objects.create(customer_id=customer_id, tier=reached, since=moment)
    elif reached.rank > held.tier.rank:
        held.tier, held.since = reached, moment
        held.save(update_fields=["tier", "since"])


def review_tiers(*, day: dt.date | None = None, program: Program | None = None) -> dict[str, int]:
    """The daily review: every customer's tier against their points earned in the window, as of `day` (local,
    today by default). Moves up whoever qualifies for more (purchases recorded by an import, which does not
    move tiers itself) and, unless the program never downgrades, moves down whoever has held their tier for
    a whole window without earning it again. Idempotent: a second run finds nothing to change.

    Calendar year: the tier earned in a year holds through the next; on a review in year Y a customer
    qualifies by the more of what they earned in Y-1 and in Y so far, and a tier held since before Y began
    that they no longer qualify for goes down to the one they do (since January 1st of Y).
    Rolling 12 months: a tier held for 12 months or more goes down to the one the last 12 months qualify for.
    """
    from .models import CustomerTier
    from .selectors import default_program, program_tiers, qualifying_tier, window_start

    program = program or default_program()
    day = day or timezone.localdate()
    tiers = program_tiers(program)
    moved = {"up": 0, "down": 0}
    if not tiers:
        return moved
    start = window_start(program, day)
    calendar = program.tier_window == Program.TierWindow.CALENDAR_YEAR
    earned_q = Sum(F("earned") + F("reversed") + F("bonus"), filter=Q(month__gte=start), default=0)
    sums = {"now": earned_q}
    if calendar:
        sums["before"] = Sum(
            F("earned") + F("reversed") + F("bonus"),
            filter=Q(month__gte=add_months(start, -12), month__lt=start),
            default=0,
        )
    first = add_months(start, -12) if calendar else start
    earned = {
        row["customer_id"]: max(row["now"], row.get("before", 0))
        for row in CustomerMonthPoints.objects.filter(month__gte=first, month__lte=day)
        .values("customer_id")
        .annotate(**sums)
        .order_by()
    }
    held = {row.customer_id: row for row in CustomerTier.objects.select_related("tier")}
    # A tier held since before this moment has been held for a whole window.
    full_window = local_midnight(start)
    downgrades = program.tier_downgrade == Program.TierDowngrade.END_OF_WINDOW
    moment = local_midnight(day)
    for customer_id in set(earned) | set(held):
        reached = qualifying_tier(tiers, earned.get(customer_id, 0))
        current = held.get(customer_id)
        with transaction.atomic():
            if current is None:
                if reached is not None:
                    CustomerTier.objects.create(customer_id=customer_id, tier=reached, since=moment)
                    moved["up"] += 1
            elif reached is not None and reached.rank > current.tier.rank:
                CustomerTier.objects.filter(pk=current.pk).update(tier=reached, since=moment)
                moved["up"] += 1
            elif downgrades and current.since < full_window and (reached is None or reached.rank < current.tier.rank):
                if reached is None:
                    CustomerTier.objects.filter(pk=current.pk).delete()
                else:
                    # Calendar year: held from January 1st, reviewed again when the year ends.
                    since = full_window if calendar else moment
                    CustomerTier.objects.filter(pk=current.pk).update(tier=reached, since=since)
                moved["down"] += 1
    return moved


def save_tier(*, tier):
    """Create or change a tier. Customers holding it keep it; the next purchase or review uses the new figures."""
    tier.full_clean()
    tier.save()
    return tier
