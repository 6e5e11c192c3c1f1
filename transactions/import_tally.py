"""A file's points in one streaming pass: `manage.py points_report --file` on a good file, without staging it.

A report of a file writes nothing, so it needs none of what the import's stages (transactions.import_stages)
do for writing: no staging table, no ids, no customers enrolled, no foreign keys. The file is read once by the
import's own reader (transactions.importing), and each row is typed by the import's parsers
(transactions.import_rows), once per distinct text where the text repeats (members, amounts, stores, kinds) and
with each local day's UTC offset decided once (LocalMoments). Its points are the stages' own: the rule version in
force at its moment (the program's RuleTimeline), `Stages.earning` once per distinct earning key (rule version,
amount, promotion context, tier multiplier: `earn_fields`, the till's), a refund judged by `refund_problem` (the
till's `check_refund`) and reversed by `reversal_points` (`reversal_entry`'s number) in file order, a future moment
refused by `check_moment`, a closed month by the books. Months are the local months of the merchant's TIME_ZONE
(`rewards.calendar`, as the books and the till's promotion context decide a local day).

The pass judges only what it can say exactly as the stages would. At the first row it cannot (a bad row, whose
words the stages compose; a receipt repeated with other data; a refund of a purchase that is not earlier in the
file, which the stages look up in the books), it stops (`Declined`), and the stages take the whole file: a
bad file's rows are reported by line exactly as the import reports them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.core.exceptions import ValidationError

from customers.models import Customer
from rewards import engine
from rewards.calendar import local_date, month_start
from rewards.models import CustomerTier
from rewards.services.books import ClosedBooks
from rewards.services.earning import reversal_points

from .import_rows import MAX_NAME, LocalMoments, RowError, parse_member_number, parse_receipt, parse_row_amount
from .import_sql import quote
from .import_stages import PURCHASE, REFUND, STAGED_COLUMNS, Stages, _Purchase, refund_problem
from .models import Store
from .services import check_moment

ONE = Decimal(1)
FAR_PAST = dt.datetime.min.replace(tzinfo=dt.UTC)
FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.UTC)
KINDS = {"": PURCHASE, PURCHASE: PURCHASE, REFUND: REFUND}


class Declined(Exception):
    """Something the one pass leaves to the import's stages (a bad row, above all)."""


class FileTally:
    """The points of a file's rows per customer and local month, fed batch by batch by the import's reader (the
    `stage` of a staging writer), then `finish`ed."""

    def __init__(self, stages: Stages, tz: dt.tzinfo) -> None:
        self.stages = stages
        self.tz = tz
        self.moments = LocalMoments(tz)
        self.default_store = Store.objects.filter(is_default=True).values_list("pk", "code").first()
        # Each text's typed value, read once: member numbers, amounts, stores and kinds repeat all through a file.
        self.members: dict[str, str] = {}
        self.amounts: dict[str, Decimal] = {}
        # A store's text -> (id, code, {receipt: the first row with it: (member, amount, moment, kind, refund_of,
        # line)}): duplicates within the file, and the purchases its refunds refund.
        self.stores: dict[str, tuple[int, str, dict[str, tuple]]] = {}
        self.receipts: dict[int, dict[str, tuple]] = {}
        self.kinds: dict[str, str] = {}
        # Imported purchases earn at the tier each customer holds now (as the import: Stages.select_new_rows).
        tiered = CustomerTier.objects.exclude(tier__multiplier=ONE)
        self.multipliers: dict[str, Decimal] = dict(tiered.values_list("customer__member_number", "tier__multiplier"))
        self.earnings: dict = {}  # the stages' earning key -> points (and each version's table by amount alone)
        self.points_of: dict[tuple, int] = {}  # (rule version, engine.points_key, multiplier) -> points
        self.versions = stages.timeline.versions
        # The rule version of the last purchase (its id, whether it has promotions), from when and until when.
        self.window: tuple = (None, False, FAR_FUTURE, FAR_FUTURE)
        # (store id, receipt) -> a refunded purchase, and the terms its reversals are computed with
        self.refunded: dict[tuple[int, str], tuple[_Purchase, tuple]] = {}
        self.points: dict[tuple[str, dt.date], int] = defaultdict(int)
        self.months: dict[dt.date, dt.date] = {}  # local day -> its month
        self.names: dict[str, str] = {}  # the name each member's first row gives (the import enrols with it)
        self.latest: dict[str, dt.datetime] = dict.fromkeys(KINDS.values(), FAR_PAST)  # each kind's latest moment

    # -- the file's rows -----------------------------------------------------------------------------

    def take(self, rows: Iterator[tuple[int, list[str]]], columns: dict[str, int]) -> None:
        """Every row (line, fields) of the import's reader, whose `columns` say where each field is."""
        if list(columns.items()) != [(name, index) for index, name in enumerate(STAGED_COLUMNS)]:
            # Not the import's own layout: each row's fields in its order, the missing columns empty.
            positions = [columns.get(name) for name in STAGED_COLUMNS]
            rows = ((line, ["" if index is None else fields[index] for index in positions]) for line, fields in rows)
        try:
            self.add(rows)
        except (RowError, ValidationError, LookupError, engine.TooManyPoints) as refusal:
            raise Declined(str(refusal)) from None

    def add(self, rows: Iterable[tuple[int, list[str]]]) -> None:
        """Type, check and count each row (the loop of the whole file: everything a row repeats is looked up)."""
        members, amounts, stores, kinds = self.members, self.amounts, self.stores, self.kinds
        multipliers, earnings, points, months = self.multipliers, self.earnings, self.points, self.months
        names, latest = self.names, self.latest
        read_moment = self.moments.read
        version_id, promotions, starts, ends = self.window
        plain = earnings.get((version_id,), {})
        for line, fields in rows:
            member_text, name, receipt, amount_text, moment_text, store_text, kind_text, refund_text = fields
            member = members.get(member_text)
            if member is None:
                member = members[member_text] = parse_member_number(member_text)
                # A member's first row is never a duplicate (that repeats an earlier row), and a bad row declines.
                names.setdefault(member, name.strip() or member)
            if len(name) > MAX_NAME and len(name.strip()) > MAX_NAME:
                raise Declined("a name too long")
            receipt = parse_receipt(receipt)
            amount = amounts.get(amount_text)
            if amount is None:
                amount = amounts[amount_text] = parse_row_amount(amount_text)
            moment, day = read_moment(moment_text)
            store = stores.get(store_text)
            if store is None:
                store = stores[store_text] = self.store(store_text)
            kind = kinds.get(kind_text)
            if kind is None:
                kind = kinds[kind_text] = self.kind(kind_text)
            if kind is PURCHASE:
                if refund_text and refund_text.strip():
                    raise Declined("refund_of on a purchase")
                refund_of = ""
            else:
                refund_of = parse_receipt(refund_text, "refund_of")
            row = (member, amount, moment, kind, refund_of, line)
            first = store[2].setdefault(receipt, row)
            if first is not row:
                if first[:5] == row[:5]:
                    continue  # the same row again: a duplicate, the first one counts
                raise Declined("a receipt repeated with other data")
            if kind is PURCHASE:
                if not starts <= moment < ends:
                    version_id, promotions, starts, ends = self.window = self.version_at(moment)
                    plain = earnings.setdefault((version_id,), {})  # amount -> points, without promotions or tier
                multiplier = multipliers.get(member, ONE) if multipliers else ONE
                if promotions or multiplier is not ONE:
                    # The stages' earning key (Stages.compute_earnings): the day and store only under promotions.
                    context = (day, store[1]) if promotions else None
                    table, key = earnings, (version_id, amount, context, multiplier)
                else:
                    table, key = plain, amount
                earned = table.get(key)
                if earned is None:
                    earned = table[key] = self.earned(version_id, amount, day, store[1], multiplier)
            else:
                earned = self.reverse(store, refund_of, member=member, amount=amount, moment=moment)
            month = months.get(day)
            if month is None:
                month = months[day] = month_start(day)
            points[(member, month)] += earned
            if moment > latest[kind]:
                latest[kind] = moment

    def store(self, text: str) -> tuple[int, str, dict[str, tuple]]:
        code = text.strip()
        if not code:
            if self.default_store is None:
                raise Declined("no default store")
            found = self.default_store
        else:
            found = Store.objects.filter(code=code).values_list("pk", "code").first()
            if found is None:
                raise Declined("an unknown store")
        return (*found, self.receipts.setdefault(found[0], {}))

    @staticmethod
    def kind(text: str) -> str:
        cleaned = text.strip()
        # ASCII only: the database's lower() and Python's agree on it.
        if not cleaned.isascii() or cleaned.lower() not in KINDS:
            raise Declined("a kind that is neither purchase nor refund")
        return KINDS[cleaned.lower()]

    def version_at(self, moment: dt.datetime) -> tuple:
        """The rule version in force at `moment` (LookupError when none is): its id, whether its rule has
        promotions, from when and until when."""
        version = self.stages.timeline.at(moment)
        index = self.versions.index(version)
        ends = self.versions[index + 1].effective_from if index + 1 < len(self.versions) else FAR_FUTURE
        return version.pk, bool(self.stages.timeline.rule_of(version).promotions), version.effective_from, ends

    def earned(self, version_id: int, amount: Decimal, day: dt.date, store_code: str, multiplier: Decimal) -> int:
        """The points of a purchase: earn_fields (Stages.earning) once per engine.points_key, which is all they
        depend on (whole units and the promotions in force, rather than every amount and day)."""
        rule = self.stages.timeline.rule_of(self.stages.versions[version_id])
        key = (version_id, engine.points_key(amount, rule, on=day, store=store_code), multiplier)
        points = self.points_of.get(key)
        if points is None:
            points = self.points_of[key] = self.stages.earning(
                version_id, amount, on=day, store_code=store_code, multiplier=multiplier
            ).points
        return points

    def reverse(self, store: tuple, refund_of: str, *, member: str, amount: Decimal, moment: dt.datetime) -> int:
        """The reversal of a refund of a purchase earlier in the file, by the stages' refund rules and the
        reversal's own arithmetic, in the terms the purchase earned in."""
        found = self.refunded.get((store[0], refund_of))
        if found is None:
            bought = store[2].get(refund_of)
            if bought is None or bought[3] is not PURCHASE:
                raise Declined("a refund of a purchase not earlier in the file")  # stored, or none: the stages say
            bought_by, price, bought_at, _kind, _refund_of, line = bought
            version_id = self.version_at(bought_at)[0]
            rule, context = self.stages.terms(version_id, on=local_date(bought_at, self.tz), store_code=store[1])
            purchase = _Purchase(
                line=line, stored_id=None, member=bought_by, amount=price, refunded=Decimal("0.00"), moment=bought_at,
                earn_id=None, version_id=version_id, facts={},
            )  # fmt: skip
            found = (purchase, (rule, context, self.multipliers.get(bought_by, ONE)))
        purchase, (rule, context, multiplier) = found
        problem = refund_problem(
            purchase, amount=amount, moment=moment, member=member, refund_of=refund_of, store_code=store[1]
        )
        if problem:
            raise Declined(problem)
        self.refunded[(store[0], refund_of)] = found
        points = reversal_points(
            purchase_amount=purchase.amount, refunded_before=purchase.refunded, refund=amount, rule=rule,
            context=context, tier_multiplier=multiplier,
        )  # fmt: skip
        purchase.refunded += amount
        return points

    # -- the end of the file -------------------------------------------------------------------------

    def finish(self, books: ClosedBooks) -> dict[tuple[str, str], dict[dt.date, int]]:
        """(member number, name) -> {local month: points earned less refunds' reversals}, as the stages' report
        gives them (Stages.points_by_month); Declined when a moment is refused or a month is closed."""
        try:
            for kind, moment in self.latest.items():
                if moment is not FAR_PAST:
                    check_moment(moment, kind=kind)  # only how late a moment is can refuse it: the latest says
        except ValidationError as refusal:
            raise Declined(str(refusal)) from None
        if any(books.month_closed(month) for month in set(self.months.values())):
            raise Declined("a closed month")
        names = dict(self.names)
        # The members' names, where they are members: one query, the file's member numbers as one parameter.
        sql, table = self.stages.sql, quote(Customer._meta.db_table)
        query = f"SELECT member_number, name FROM {table} WHERE {sql.any_of('member_number')}"  # noqa: S608
        names.update(self.stages.rows(query, [sql.any_of_param(list(names))]))
        found: dict[tuple[str, str], dict[dt.date, int]] = {}
        for (member, month), value in self.points.items():  # in no order: the report sorts its rows
            found.setdefault((member, names[member]), {})[month] = value
        return found
