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

A large file is read in two parts at once, the second by a process of its own (transactions.importing._tallied):
each part is tallied as above, the second leaving its refunds of purchases it has not seen to the first
(`deferring`), and the first takes in the second's findings (`part`, `merge`) as if it had read on. The rows are
read with the reader's csv module directly, a batch at a time, and checked as a whole: a file with a byte that is not
UTF-8, a NUL or a row of the wrong width is left to the stages, which report each such row by line.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from django.core.exceptions import ValidationError
from django.utils import timezone

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
FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.UTC)
KINDS = {"": PURCHASE, PURCHASE: PURCHASE, REFUND: REFUND}


class Declined(Exception):
    """Something the one pass leaves to the import's stages (a bad row, above all)."""


class ReadAgain(Exception):
    """The two parts of a file read at once do not make its tally (a receipt in both, the second part's process
    failing): the file is read again in one pass."""


@dataclass(frozen=True)
class FilePart:
    """A later part of a file, tallied by a process of its own (FileTally.part)."""

    points: dict[dt.date, dict[str, int]]
    names: dict[str, str]
    receipts: dict[int, list[str]]
    deferred: list[tuple]


class FileTally:
    """The points of a file's rows per customer and local month: the rows `take`n a batch at a time from the file's
    csv reader (a later part's `merge`d in), then `finish`ed."""

    def __init__(self, stages: Stages, tz: dt.tzinfo) -> None:
        self.stages = stages
        self.tz = tz
        self.moments = LocalMoments(tz)
        self.default_store = Store.objects.filter(is_default=True).values_list("pk", "code").first()
        self.codes: dict[str, tuple[int, str]] = {
            code: (pk, code) for pk, code in Store.objects.values_list("pk", "code")
        }
        # Each text's typed value, read once: member numbers, amounts, stores and kinds repeat all through a file.
        self.members: dict[str, str] = {}
        self.amounts: dict[str, Decimal] = {}
        # A store's text -> (id, code, {receipt: the first row with it: (member, amount, moment, kind, refund_of)}):
        # duplicates within the file, and the purchases its refunds refund.
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
        # Local month -> {member: points}, and each local day's month's dict (a row adds to its member's figure in
        # the dict its day leads to, without building a key of member and month).
        self.points: dict[dt.date, dict[str, int]] = {}
        self.days: dict[dt.date, dict[str, int]] = {}
        self.names: dict[str, str] = {}  # the name each member's first row gives (the import enrols with it)
        # A moment from the pass's start on is asked of the recording service whether it is in the future (the
        # one check_moment makes); every earlier one is not.
        self.started = timezone.now()
        # A part of the file after its start (`part`) leaves its refunds of purchases it has not seen to the part
        # before it, in order: (store text, refund_of, member, amount, moment, local month).
        self.deferring = False
        self.deferred: list[tuple] = []

    # -- the file's rows -----------------------------------------------------------------------------

    def take(
        self, reader: Iterator[list[str]], columns: dict[str, int], *, width: int, batch_size: int,
        counted: Callable[[int], None],
    ) -> None:  # fmt: skip
        """Every row of the file's csv reader (after its header, `width` fields wide; `columns` says where each
        field the import reads is), a batch of `batch_size` rows at a time; `counted` hears of each batch."""
        positions = [columns.get(name) for name in STAGED_COLUMNS]
        # The import's own layout is read as it comes; any other, each row's fields in its order (missing: empty).
        layout = width == len(STAGED_COLUMNS) and positions == list(range(width))
        try:
            while batch := list(islice(reader, batch_size)):
                if set(map(len, batch)) != {width}:
                    batch = self.whole(batch, width)
                if not layout:
                    batch = [["" if index is None else fields[index] for index in positions] for fields in batch]
                self.add(batch)
                counted(len(batch))
        except (csv.Error, UnicodeDecodeError) as unreadable:
            raise Declined(f"unreadable ({unreadable})") from None
        except (RowError, ValidationError, LookupError, engine.TooManyPoints) as refusal:
            raise Declined(str(refusal)) from None

    @staticmethod
    def whole(batch: list[list[str]], width: int) -> list[list[str]]:
        """A batch without its blank lines (the import's reader skips them); Declined at a row of another width."""
        rows = [fields for fields in batch if fields and (len(fields) > 1 or fields[0].strip())]
        if any(len(fields) != width for fields in rows):
            raise Declined("a row with too few or too many fields")
        return rows

    def add(self, rows: Iterable[list[str]]) -> None:
        """Type, check and count each row (the loop of the whole file: everything a row repeats is looked up)."""
        members, amounts, stores, kinds = self.members, self.amounts, self.stores, self.kinds
        multipliers, earnings, days = self.multipliers, self.earnings, self.days
        names = self.names
        read_moment = self.moments.read
        version_id, promotions, starts, ends = self.window
        plain = earnings.get((version_id,), {})
        for fields in rows:
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
            row = (member, amount, moment, kind, refund_of)
            first = store[2].setdefault(receipt, row)
            if first is not row:
                if first == row:
                    continue  # the same row again: a duplicate, the first one counts
                raise Declined("a receipt repeated with other data")
            if kind is PURCHASE:
                # The window ends at the next version or at the pass's start, whichever is first: a later moment
                # may be in the future, which version_at asks the recording service about (check_moment).
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
            month_points = days.get(day)
            if month_points is None:
                month_points = days[day] = self.points.setdefault(month_start(day), {})
            if earned is None:
                self.deferred.append((store_text, refund_of, member, amount, moment, month_start(day)))
                continue
            month_points[member] = month_points.get(member, 0) + earned

    def store(self, text: str) -> tuple[int, str, dict[str, tuple]]:
        code = text.strip()
        if not code:
            if self.default_store is None:
                raise Declined("no default store")
            found = self.default_store
        else:
            found = self.codes.get(code)
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

    def version_at(self, moment: dt.datetime, *, kind: str = PURCHASE) -> tuple:
        """The rule version in force at `moment` (LookupError when none is): its id, whether its rule has
        promotions, from when and until when it is used without asking again (its end, or the pass's start if
        sooner: a moment from then on is asked of the recording service, check_moment, whether it is in the
        future)."""
        if moment >= self.started:
            check_moment(moment, kind=kind)
        version = self.stages.timeline.at(moment)
        index = self.versions.index(version)
        ends = self.versions[index + 1].effective_from if index + 1 < len(self.versions) else FAR_FUTURE
        promotions = bool(self.stages.timeline.rule_of(version).promotions)
        return version.pk, promotions, version.effective_from, min(ends, self.started)

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

    def reverse(self, store: tuple, refund_of: str, *, member: str, amount: Decimal, moment: dt.datetime) -> int | None:
        """The reversal of a refund of a purchase earlier in the file, by the stages' refund rules and the
        reversal's own arithmetic, in the terms the purchase earned in; None when it is left to the part of the
        file before this one (deferring: a purchase this part has not seen)."""
        if moment >= self.started:
            check_moment(moment, kind=REFUND)
        found = self.refunded.get((store[0], refund_of))
        if found is None:
            bought = store[2].get(refund_of)
            if bought is None and self.deferring:
                return None
            if bought is None or bought[3] is not PURCHASE:
                raise Declined("a refund of a purchase not earlier in the file")  # stored, or none: the stages say
            bought_by, price, bought_at, _kind, _refund_of = bought
            version_id = self.version_at(bought_at)[0]
            rule, context = self.stages.terms(version_id, on=local_date(bought_at, self.tz), store_code=store[1])
            purchase = _Purchase(
                line=None, stored_id=None, member=bought_by, amount=price, refunded=Decimal("0.00"), moment=bought_at,
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

    # -- a file read in two parts at once ------------------------------------------------------------

    def part(self) -> FilePart:
        """What a later part of the file found, for the tally of the part before it (`merge`)."""
        receipts = {store_id: list(found) for store_id, found in self.receipts.items()}
        return FilePart(self.points, self.names, receipts, self.deferred)

    def merge(self, part: FilePart) -> None:
        """A later part's findings added to this tally (of the file up to that part), as if the one pass had read
        on: its members' first names where this part has none, its points, and its refunds of purchases of this
        part reversed now, in order. ReadAgain when a receipt is in both parts (a duplicate or a repeat with other
        data, which only the whole file in one pass judges)."""
        for store_id, receipts in part.receipts.items():
            mine = self.receipts.get(store_id)
            if mine and not mine.keys().isdisjoint(receipts):
                raise ReadAgain
        for member, name in part.names.items():
            self.names.setdefault(member, name)
        for month, found in part.points.items():
            self.add_points(month, found)
        stores = self.stores
        try:
            for store_text, refund_of, member, amount, moment, month in part.deferred:
                store = stores.get(store_text)
                if store is None:
                    store = stores[store_text] = self.store(store_text)
                reversed_points = self.reverse(store, refund_of, member=member, amount=amount, moment=moment)
                self.add_points(month, {member: reversed_points})
        except (ValidationError, LookupError, engine.TooManyPoints) as refusal:
            raise Declined(str(refusal)) from None

    def add_points(self, month: dt.date, found: dict[str, int]) -> None:
        """Members' points of a month added to this tally's (the month counts even when `found` is empty)."""
        mine = self.points.setdefault(month, {})
        for member, value in found.items():
            mine[member] = mine.get(member, 0) + value

    # -- the end of the file -------------------------------------------------------------------------

    def finish(self, books: ClosedBooks) -> dict[tuple[str, str], dict[dt.date, int]]:
        """(member number, name) -> {local month: points earned less refunds' reversals}, as the stages' report
        gives them (Stages.points_by_month); Declined when a moment is refused or a month is closed."""
        if any(books.month_closed(month) for month in self.points):
            raise Declined("a closed month")
        names = dict(self.names)
        # The members' names, where they are members: one query, the file's member numbers as one parameter.
        sql, table = self.stages.sql, quote(Customer._meta.db_table)
        query = f"SELECT member_number, name FROM {table} WHERE {sql.any_of('member_number')}"  # noqa: S608
        names.update(self.stages.rows(query, [sql.any_of_param(list(names))]))
        found: dict[tuple[str, str], dict[dt.date, int]] = {}
        for month, month_points in self.points.items():  # in no order: the report sorts its rows
            for member, value in month_points.items():
                found.setdefault((member, names[member]), {})[month] = value
        return found
