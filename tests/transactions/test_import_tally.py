"""points_report --file's one pass (transactions.import_tally) gives exactly what the import's stages give on every
file it takes, and leaves every other file to them (file_points)."""

import datetime as dt
import io
import time
from decimal import Decimal

import pytest

from rewards.models import CustomerTier, Program, RuleVersion, Tier
from rewards.services.books import close_month
from tests.factories import CustomerFactory, ManagerFactory, StoreFactory, at
from transactions import importing
from transactions.importing import file_points, import_transactions

pytestmark = pytest.mark.django_db

HEADER = "customer_id,customer_name,transaction_id,amount,occurred_at,store,kind,refund_of\n"


def both(tmp_path, text: str):
    """(the one pass's FilePoints or None, the stages' FilePoints) of the same file."""
    path = tmp_path / "record.csv"
    path.write_text(text, encoding="utf-8")
    with path.open("rb") as binary:
        tallied = importing._tallied(binary, None)
    with path.open("rb") as binary:
        staged = importing._staged(binary, None)
    return tallied, staged


@pytest.fixture
def program(db):
    """From February: a Tuesday double at Elm Street in March (from 60.25), a fixed bonus any day from 150.00, a stamp
    card; a VIB tier (x1.25) held by a stored member."""
    StoreFactory(code="elm-street", name="Elm Street")
    default = Program.objects.get(is_default=True)
    RuleVersion.objects.create(
        program=default,
        effective_from=at(2025, 2, 1, 0, 0),
        rule={
            "bands": [{"threshold": 50, "rate": "1"}, {"threshold": 100, "rate": "2"}],
            "minimum_purchase": "5.50",
            "promotions": [
                {"name": "Tuesday promotion", "multiplier": "2", "starts": "2025-03-01", "ends": "2025-03-31",
                 "weekdays": [1], "stores": ["elm-street"], "minimum_amount": "60.25"},
                {"name": "Big basket", "kind": "bonus", "bonus": 25, "starts": "2025-01-01", "ends": "2025-12-31",
                 "minimum_amount": "150.00"},
            ],
            "promotion_mode": "stack",
            "stamp_card": {"every": 3, "bonus": 100, "minimum_amount": "5.00"},
        },
    )  # fmt: skip
    vib = Tier.objects.create(program=default, name="VIB", rank=1, threshold=150, multiplier=Decimal("1.25"))
    stored = CustomerFactory(member_number="VIB1", name="Stored Name")
    CustomerTier.objects.create(customer=stored, tier=vib, since=at(2025, 1, 1))
    CustomerFactory(member_number="OLD1", name="Old Member")
    return default


# Every case the one pass takes: both rule versions and the boundary between them, promotions by day and store,
# cents around a minimum with cents, a tier multiplier, partial refunds (twice of one purchase, one in another month
# and in the other rule version), an identical row repeated, names (stored, a first row without one), moments with
# offsets, dates alone, daylight-saving changes, month boundaries in New York.
RECORD = HEADER + (
    "VIB1,Other Name,R1,120.00,2025-01-31T23:59:59,,,\n"
    "VIB1,,R2,120.00,2025-02-01T00:00:00,,,\n"
    "NEW1,,R3,60.24,2025-03-04T10:00:00,elm-street,,\n"
    "NEW1,Named Later,R4,60.25,2025-03-04T10:00:00,elm-street,,\n"
    "NEW1,,R5,60.25,2025-03-05T10:00:00,elm-street,,\n"
    "NEW2,Ann,R6,155.00,2025-03-04 23:30,elm-street,,\n"
    "NEW2,Ann,R7,5.49,2025-03-09T02:30:00,,,\n"
    "NEW2,Ann,R8,99.99,2025-11-02T01:30:00,,,\n"
    "NEW2,Ann,R9,75.00,2025-02-01T04:30:00Z,,,\n"
    "NEW2,Ann,R10,75.00,2025-01-31T23:30:00-05:00,,,\n"
    "OLD1,Whoever,R11,200.00,2025-03-31,,,\n"
    "NEW2,Ann,F1,20.00,2025-03-05T09:00:00,elm-street,refund,R6\n"
    "NEW2,Ann,F2,35.00,2025-04-01T00:00:01,elm-street,refund,R6\n"
    "VIB1,,F3,30.00,2025-02-02T10:00:00,,refund,R1\n"
    "NEW2,Ann,R6,155.00,2025-03-04 23:30,elm-street,,\n"
    "OLD1,Whoever,R12,0.00,2025-04-30T23:59:59,,,\n"
)


def test_the_one_pass_gives_the_stages_points_on_a_file_with_promotions_tiers_and_refunds(program, tmp_path):
    tallied, staged = both(tmp_path, RECORD)

    assert tallied is not None, "the one pass took the file"
    assert staged.result.ok, staged.result.errors
    assert tallied.points == staged.points
    assert tallied.months == staged.months == [dt.date(2025, month, 1) for month in (1, 2, 3, 4, 11)]
    assert tallied.result.rows_read == staged.result.rows_read == 16
    # Spot checks that the file exercises what it says: the stored names, the first row's (or the member number).
    assert {name for _member, name in tallied.points} == {"Stored Name", "NEW1", "Ann", "Old Member"}
    by_member = {member: months for (member, _name), months in tallied.points.items()}
    # 60.24 under the minimum of the Tuesday double (no cents dropped), 60.25 doubled, Wednesday's not: 10 + 20 + 10.
    assert by_member["NEW1"] == {dt.date(2025, 3, 1): 40}
    # The tier held now multiplies every purchase of the file, as the import: 120.00 earns 90 x 1.25 in January.
    assert by_member["VIB1"][dt.date(2025, 1, 1)] == 112


def test_a_file_in_another_layout_gives_the_same_points(program, tmp_path):
    """Columns in another order, an ignored column, no store, kind or refund_of column."""
    text = (
        "occurred_at,amount,note,transaction_id,customer_id\n"
        "2025-03-04T10:00:00,120.00,x,R1,NEW1\n"
        "2025-03-05T10:00:00,60.00,y,R2,VIB1\n"
        "2025-03-05T10:00:00,60.00,y,R2,VIB1\n"
    )
    tallied, staged = both(tmp_path, text)
    assert tallied is not None
    assert tallied.points == staged.points == {("NEW1", "NEW1"): {dt.date(2025, 3, 1): 90}, ("VIB1", "Stored Name"): {
        dt.date(2025, 3, 1): 12}}  # fmt: skip


def test_the_one_pass_and_the_stages_agree_across_many_batches(program, tmp_path, monkeypatch):
    """Rows in batches of 3 (the import's batch size, and the reader's progress, at their smallest)."""
    monkeypatch.setattr(importing, "BATCH_SIZE", 3)
    tallied, staged = both(tmp_path, RECORD)
    assert tallied is not None and tallied.points == staged.points


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param("A1,,R1,12x,2025-01-05,,,\n", id="a bad row"),
        pytest.param("A1,,R1,12.00,2025-01-05,,,\nA1,,R1,13.00,2025-01-05,,,\n", id="a receipt repeated, not the same"),
        pytest.param("A1,,R1,12.00,2025-01-05,,refund,NOWHERE\n", id="a refund of no purchase in the file"),
        pytest.param("A1,,R1,12.00,2025-01-05,,,\nB2,,F1,5.00,2025-01-06,,refund,R1\n", id="a refund by another"),
        pytest.param("A1,,R1,12.00,2025-01-05,,,\nA1,,F1,15.00,2025-01-06,,refund,R1\n", id="a refund too large"),
        pytest.param("A1,,R1,12.00,2025-01-05,nowhere,,\n", id="an unknown store"),
        pytest.param("A1,,R1,12.00,2025-01-05,,gift,\n", id="an unknown kind"),
        pytest.param("A1,,R1,12.00,2025-01-05,,,R0\n", id="refund_of on a purchase"),
        pytest.param("A1,,R1,12.00,2025-01-05,,,\nA1,,R2\n", id="a short line"),
        pytest.param(f"A1,,R1,12.00,{(dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date()},,,\n", id="the future"),
    ],
)
def test_a_file_the_one_pass_cannot_judge_goes_to_the_stages_which_report_it(program, tmp_path, rows):
    tallied, staged = both(tmp_path, HEADER + rows)
    assert tallied is None
    path = tmp_path / "record.csv"
    found = file_points(path)
    assert not found.result.ok
    assert [str(error) for error in found.result.errors] == [str(error) for error in staged.result.errors]
    assert found.points == {}


def test_a_refund_of_a_purchase_in_the_books_goes_to_the_stages_which_reverse_it(program, tmp_path):
    assert import_transactions(io.BytesIO((HEADER + "OLD1,,R1,120.00,2025-01-05T10:00:00,,,\n").encode())).ok
    text = HEADER + "OLD1,,F1,20.00,2025-01-06T10:00:00,,refund,R1\n"
    tallied, _staged = both(tmp_path, text)
    assert tallied is None
    found = file_points(tmp_path / "record.csv")
    assert found.points == {("OLD1", "Old Member"): {dt.date(2025, 1, 1): -40}}


def test_a_closed_month_goes_to_the_stages_which_refuse_it_by_line(program, tmp_path):
    close_month(month=dt.date(2025, 1, 1), closed_by=ManagerFactory())
    tallied, staged = both(tmp_path, HEADER + "A1,,R1,12.00,2025-01-05,,,\n")
    assert tallied is None
    found = file_points(tmp_path / "record.csv")
    assert [error.line for error in found.result.errors] == [2]
    assert [str(error) for error in found.result.errors] == [str(error) for error in staged.result.errors]


def test_a_stream_that_cannot_be_read_twice_goes_to_the_stages(program):
    class OneWay(io.BytesIO):
        def seekable(self) -> bool:
            return False

    found = file_points(OneWay((HEADER + "NEW1,,R1,120.00,2025-03-05T10:00:00,,,\n").encode()))
    assert found.points == {("NEW1", "NEW1"): {dt.date(2025, 3, 1): 90}}


# A large file is read in two parts at once (importing._split_point): this process reads the first, a forked one the
# second, and the first part's tally takes in the second's. The record above, split before each of its lines.


def line_starts(text: str) -> list[int]:
    data = text.encode()
    return [index + 1 for index, byte in enumerate(data[:-1]) if byte == ord("\n")]


@pytest.fixture
def in_parts(monkeypatch):
    """Every file read in two parts (whatever its size, the processors and the test runner's threads); the parts'
    outcomes, as the first part's tally merged them or not, in `merged`."""
    monkeypatch.setattr(importing, "_can_fork", lambda: True)
    monkeypatch.setattr(importing, "SPLIT_BYTES", 0)
    merged: list[bool] = []
    merge = importing.FileTally.merge

    def spy(self, part):
        merge(self, part)
        merged.append(True)

    monkeypatch.setattr(importing.FileTally, "merge", spy)
    return merged


@pytest.mark.parametrize("split", range(len(line_starts(RECORD))))
def test_a_file_read_in_two_parts_gives_the_stages_points_wherever_it_is_split(
    program, tmp_path, monkeypatch, in_parts, split
):
    offset = line_starts(RECORD)[split]
    monkeypatch.setattr(importing, "_split_point", lambda binary: offset)
    tallied, staged = both(tmp_path, RECORD)
    assert tallied is not None
    assert tallied.points == staged.points
    assert tallied.months == staged.months
    assert tallied.result.rows_read == staged.result.rows_read == 16
    # R6 repeated on line 15: split between its two rows, a receipt is in both parts and the file is read again
    # in one pass; any other split, the parts are merged.
    receipts = RECORD.encode()
    assert in_parts == ([] if receipts.index(b",R6,") < offset <= receipts.rindex(b",R6,") else [True])


def test_the_middle_of_a_file_without_quotes_is_where_it_splits(program, tmp_path, in_parts):
    path = tmp_path / "record.csv"
    path.write_text(RECORD, encoding="utf-8")
    with path.open("rb") as binary:
        split = importing._split_point(binary)
        assert split in line_starts(RECORD) and abs(split - len(RECORD) / 2) < 60
    path.write_text(RECORD.replace("Named Later", '"Later, Named"'), encoding="utf-8")
    with path.open("rb") as binary:
        assert importing._split_point(binary) is None  # a quoted field may hold a line break


@pytest.mark.parametrize(
    "second",
    [
        pytest.param("A1,,R1,12x,2025-01-05,,,\n", id="a bad row"),
        pytest.param("A1,,R1,12.00,2025-01-05,,refund,NOWHERE\n", id="a refund of no purchase in the file"),
        pytest.param("OLD1,,F9,500.00,2025-04-02T10:00:00,,refund,R11\n", id="a refund too large of the first part's"),
        pytest.param("A1,\xff,R1,12.00,2025-01-05,,,\n", id="not UTF-8"),
        pytest.param("A1,\x00,R1,12.00,2025-01-05,,,\n", id="NUL"),
    ],
)
def test_a_second_part_the_one_pass_cannot_judge_goes_to_the_stages(program, tmp_path, monkeypatch, in_parts, second):
    path = tmp_path / "record.csv"
    path.write_bytes(RECORD.encode() + second.encode().replace("\xff".encode(), b"\xff"))  # a byte, not UTF-8
    monkeypatch.setattr(importing, "_split_point", lambda binary: len(RECORD.encode()))  # the second part: one row
    with path.open("rb") as binary:
        assert importing._tallied(binary, None) is None
    found = file_points(path)
    assert not found.result.ok and found.points == {}
    assert [error.line for error in found.result.errors] == [18]


def test_a_second_part_that_fails_is_read_again_in_one_pass(program, tmp_path, monkeypatch, in_parts):
    """The second process asks the database nothing (here it tries, and is refused): the file is read again."""
    part = importing.FileTally.part

    def asking(self):
        CustomerTier.objects.count()
        return part(self)

    monkeypatch.setattr(importing.FileTally, "part", asking)
    monkeypatch.setattr(importing, "_split_point", lambda binary: line_starts(RECORD)[8])
    tallied, staged = both(tmp_path, RECORD)
    assert tallied is not None and tallied.points == staged.points
    assert in_parts == []


def test_a_second_part_that_does_not_answer_is_stopped_and_the_file_read_again(
    program, tmp_path, monkeypatch, in_parts
):
    stopped = []
    stop = importing._SecondPart.stop

    def spy(self):
        stopped.append(self.process.is_alive())
        stop(self)
        assert not self.process.is_alive()

    monkeypatch.setattr(importing, "_tally_second_part", lambda *args: time.sleep(60))
    monkeypatch.setattr(importing._SecondPart, "stop", spy)
    monkeypatch.setattr(importing, "SECOND_PART_GRACE", 0.5)
    monkeypatch.setattr(importing, "_split_point", lambda binary: line_starts(RECORD)[8])
    tallied, staged = both(tmp_path, RECORD)
    assert tallied is not None and tallied.points == staged.points
    assert in_parts == [] and stopped == [True]  # still waiting when it was stopped
