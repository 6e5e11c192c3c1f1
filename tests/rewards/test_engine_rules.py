"""The richer rule: base rate, minimum purchase, promotions, stamp card, bonus actions. No database."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewards.engine import (
    CLASSIC_RULE,
    Band,
    BonusActions,
    FixedBonus,
    Multiplier,
    Promotion,
    Rule,
    RuleError,
    StampCard,
    earn,
    points_key,
    reversal,
)

TUESDAY = dt.date(2025, 3, 4)
WEDNESDAY = dt.date(2025, 3, 5)
CLASSIC_BANDS = CLASSIC_RULE.bands


def tuesday_double(**changes) -> Promotion:
    """Double points every Tuesday in March at the Elm Street store."""
    values = {
        "name": "Tuesday promotion",
        "starts": dt.date(2025, 3, 1),
        "ends": dt.date(2025, 3, 31),
        "effect": Multiplier(Decimal(2)),
        "weekdays": (1,),
        "stores": ("elm-street",),
    }
    return Promotion(**(values | changes))


def rule(**changes) -> Rule:
    return Rule(**({"bands": CLASSIC_BANDS} | changes))


# --- spend bands, base rate, minimum purchase -------------------------------------------------------


def test_any_number_of_bands():
    three = Rule(bands=(Band(10, Decimal(1)), Band(50, Decimal(2)), Band(200, Decimal(3))))
    # 40 x 1 + 150 x 2 + 50 x 3
    assert earn(Decimal("250.00"), three).points == 40 + 300 + 150


def test_base_rate_earns_from_zero_up_to_the_first_threshold():
    earning = earn(Decimal("120.00"), rule(base_rate=Decimal("0.5")))
    assert earning.points == 25 + 50 + 40
    assert earning.explain() == "120.00: 50 × 0.5 (0–50) + 50 × 1 (50–100) + 20 × 2 (over 100) = 115"


def test_base_rate_alone_earns_on_every_unit():
    assert earn(Decimal("37.99"), Rule(bands=(), base_rate=Decimal(1))).points == 37


def test_minimum_purchase_earns_nothing_below_it_and_everything_from_it():
    minimum = rule(minimum_purchase=Decimal("60.00"), base_rate=Decimal(1))
    below = earn(Decimal("59.99"), minimum)
    assert below.points == 0
    assert below.explain() == "59.99: below the minimum purchase of 60.00 = 0"
    assert earn(Decimal("60.00"), minimum).points == 50 + 10


# --- promotions -------------------------------------------------------------------------------------


def test_the_issue_example_explains_each_part():
    earning = earn(Decimal("120.00"), rule(promotions=(tuesday_double(),)), on=TUESDAY, store="elm-street")
    assert earning.points == 180
    assert earning.explain() == "120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90; Tuesday promotion ×2 → 180"
    assert earning.as_dict()["promotions"] == [
        {"name": "Tuesday promotion", "kind": "multiplier", "multiplier": "2", "bonus": 0, "after": 180}
    ]


@pytest.mark.parametrize(
    ("on", "store", "points"),
    [
        (TUESDAY, "elm-street", 180),
        (WEDNESDAY, "elm-street", 90),  # not a Tuesday
        (TUESDAY, "harbour", 90),  # another store
        (dt.date(2025, 4, 1), "elm-street", 90),  # a Tuesday after the range
        (dt.date(2025, 2, 25), "elm-street", 90),  # a Tuesday before it
        (dt.date(2025, 3, 25), "elm-street", 180),  # the last Tuesday in range
        (None, None, 90),  # no context: the bands alone
    ],
)
def test_a_promotion_applies_only_in_its_window_days_and_stores(on, store, points):
    assert earn(Decimal("120.00"), rule(promotions=(tuesday_double(),)), on=on, store=store).points == points


def test_range_is_inclusive_of_both_local_dates():
    promotion = Promotion(name="Day", starts=WEDNESDAY, ends=WEDNESDAY, effect=Multiplier(Decimal(3)))
    assert earn(Decimal("60"), rule(promotions=(promotion,)), on=WEDNESDAY).points == 30
    assert earn(Decimal("60"), rule(promotions=(promotion,)), on=TUESDAY).points == 10


def test_promotion_minimum_amount_compares_the_exact_amount():
    promotion = tuesday_double(minimum_amount=Decimal("100.50"), stores=())
    with_promotion = rule(promotions=(promotion,))
    assert earn(Decimal("100.49"), with_promotion, on=TUESDAY).points == 50
    assert earn(Decimal("100.50"), with_promotion, on=TUESDAY).points == 100


def test_fixed_bonus_promotion_adds_points():
    bonus = Promotion(name="Spring bonus", effect=FixedBonus(25), starts=TUESDAY, ends=TUESDAY)
    earning = earn(Decimal("120.00"), rule(promotions=(bonus,)), on=TUESDAY)
    assert earning.points == 115
    assert earning.explain().endswith("= 90; Spring bonus +25 → 115")


def test_stacked_promotions_multiply_first_then_add_bonuses():
    bonus = Promotion(name="Spring bonus", effect=FixedBonus(25), starts=TUESDAY, ends=TUESDAY)
    triple = Promotion(name="Triple", starts=TUESDAY, ends=TUESDAY, effect=Multiplier(Decimal(3)))
    stacked = rule(promotions=(bonus, tuesday_double(), triple), promotion_mode="stack")
    earning = earn(Decimal("120.00"), stacked, on=TUESDAY, store="elm-street")
    # 90 x 2 = 180, x 3 = 540, + 25 = 565: the bonus is not multiplied, whatever the order listed.
    assert earning.points == 565
    assert earning.explain().endswith("= 90; Tuesday promotion ×2 → 180; Triple ×3 → 540; Spring bonus +25 → 565")


def test_best_promotion_wins_alone():
    bonus = Promotion(name="Spring bonus", effect=FixedBonus(100), starts=TUESDAY, ends=TUESDAY)
    best = rule(promotions=(tuesday_double(), bonus), promotion_mode="best")
    assert earn(Decimal("120.00"), best, on=TUESDAY, store="elm-street").points == 190  # 90 + 100 beats 180
    assert earn(Decimal("300.00"), best, on=TUESDAY, store="elm-street").points == 900  # 450 x 2 beats 550
    assert (
        earn(Decimal("300.00"), best, on=TUESDAY, store="elm-street").explain().endswith("Tuesday promotion ×2 → 900")
    )


def test_best_mode_tie_goes_to_the_first_listed():
    first = Promotion(name="First", effect=FixedBonus(90), starts=TUESDAY, ends=TUESDAY)
    second = Promotion(name="Second", starts=TUESDAY, ends=TUESDAY, effect=Multiplier(Decimal(2)))
    earning = earn(Decimal("120.00"), rule(promotions=(first, second), promotion_mode="best"), on=TUESDAY)
    assert [step.name for step in earning.promotions] == ["First"]


def test_fractional_multiplier_rounds_down():
    promotion = Promotion(name="Half again", starts=TUESDAY, ends=TUESDAY, effect=Multiplier(Decimal("1.5")))
    assert earn(Decimal("51.00"), rule(promotions=(promotion,)), on=TUESDAY).points == 1  # 1 x 1.5 = 1.5 -> 1


def test_minimum_purchase_also_stops_promotions():
    bonus = Promotion(name="Spring bonus", effect=FixedBonus(25), starts=TUESDAY, ends=TUESDAY)
    assert earn(Decimal("9.99"), rule(minimum_purchase=Decimal(10), promotions=(bonus,)), on=TUESDAY).points == 0


# --- refunds under promotions -----------------------------------------------------------------------


def test_refund_under_a_promotion_keeps_the_promoted_points_of_the_remainder():
    promoted = rule(promotions=(tuesday_double(),))
    taken = reversal(
        purchase_amount=Decimal("120.00"),
        refunded_before=Decimal(0),
        refund=Decimal("30.00"),
        rule=promoted,
        on=TUESDAY,
        store="elm-street",
    )
    assert taken == 80 - 180  # 90.00 left earns 40, doubled 80


def test_partial_refund_below_a_bonus_minimum_takes_the_fixed_bonus_back():
    """The rule chosen: the customer keeps exactly what the remainder would earn as a purchase, so a fixed
    bonus whose minimum the remainder no longer reaches is taken back with the refund."""
    bonus = Promotion(
        name="Big basket", effect=FixedBonus(50), starts=TUESDAY, ends=TUESDAY, minimum_amount=Decimal(100)
    )
    with_bonus = rule(promotions=(bonus,))
    assert earn(Decimal("120.00"), with_bonus, on=TUESDAY).points == 140
    taken = reversal(
        purchase_amount=Decimal("120.00"),
        refunded_before=Decimal(0),
        refund=Decimal("30.00"),
        rule=with_bonus,
        on=TUESDAY,
    )
    assert taken == 40 - 140


amounts = st.decimals(min_value=0, max_value=Decimal("5000"), places=2, allow_nan=False, allow_infinity=False)
RICH = Rule(
    bands=CLASSIC_BANDS,
    base_rate=Decimal("0.25"),
    minimum_purchase=Decimal("5.00"),
    promotions=(
        tuesday_double(),
        Promotion(name="Bonus", effect=FixedBonus(30), starts=TUESDAY, ends=TUESDAY, minimum_amount=Decimal(80)),
        Promotion(name="Third more", starts=TUESDAY, ends=TUESDAY, effect=Multiplier(Decimal("1.33"))),
    ),
)


@given(
    amounts,
    st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=5),
    st.sampled_from(["stack", "best"]),
)
def test_refunds_telescope_under_a_rich_rule(amount, shares, mode):
    """However it is refunded in parts, the customer ends with what the remainder earns in the purchase's context."""
    rich = Rule(**{**{f: getattr(RICH, f) for f in RICH.__slots__}, "promotion_mode": mode})
    context = {"on": TUESDAY, "store": "elm-street"}
    refunded = Decimal(0)
    total = earn(amount, rich, **context).points
    for share in shares:
        part = min((amount * Decimal(share) / 100).quantize(Decimal("0.01")), amount - refunded)
        step = reversal(purchase_amount=amount, refunded_before=refunded, refund=part, rule=rich, **context)
        assert step <= 0
        total += step
        refunded += part
    assert total == earn(amount - refunded, rich, **context).points


@given(amounts, amounts)
def test_points_never_decrease_with_the_amount_under_a_rich_rule(a, b):
    low, high = sorted((a, b))
    assert (
        earn(low, RICH, on=TUESDAY, store="elm-street").points
        <= earn(high, RICH, on=TUESDAY, store="elm-street").points
    )


# --- stamp card and bonus actions -------------------------------------------------------------------


def test_stamp_card_every_nth_qualifying_visit():
    card = StampCard(every=10, bonus=100, minimum_amount=Decimal("5.00"))
    assert not card.qualifies(Decimal("4.99"))
    assert card.qualifies(Decimal("5.00"))
    assert [card.bonus_for_visit(visit) for visit in (1, 9, 10, 11, 20)] == [0, 0, 100, 0, 100]


def test_rich_rule_round_trips_and_old_rules_still_load():
    rich = Rule(
        bands=CLASSIC_BANDS,
        base_rate=Decimal("0.5"),
        minimum_purchase=Decimal(5),
        promotions=(tuesday_double(),),
        promotion_mode="best",
        stamp_card=StampCard(every=10, bonus=100),
        bonuses=BonusActions(enrolment=50, birthday=200, referral=150),
    )
    assert Rule.from_dict(rich.to_dict()) == rich
    assert Rule.from_dict({"bands": [{"threshold": 50, "rate": "1"}, {"threshold": 100, "rate": "2"}]}) == CLASSIC_RULE
    assert CLASSIC_RULE.to_dict() == {"bands": [{"threshold": 50, "rate": "1"}, {"threshold": 100, "rate": "2"}]}


# --- bad configuration: refused, with the field it is about -----------------------------------------

BANDS = [{"threshold": 50, "rate": "1"}, {"threshold": 100, "rate": "2"}]
PROMOTION = {"name": "P", "kind": "multiplier", "multiplier": "2", "starts": "2025-03-01", "ends": "2025-03-31"}


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"bands": [BANDS[1], BANDS[0]]}, "bands.1.threshold", "strictly increasing"),
        ({"bands": [BANDS[0], {"threshold": 50, "rate": "3"}]}, "bands.1.threshold", "strictly increasing"),
        ({"bands": [{"threshold": 50, "rate": "-1"}]}, "bands.0.rate", "negative"),
        ({"bands": [{"threshold": -5, "rate": "1"}]}, "bands.0.threshold", "negative"),
        ({"bands": BANDS, "base_rate": "-0.5"}, "base_rate", "negative"),
        ({"bands": [{"threshold": 0, "rate": "1"}], "base_rate": "1"}, "base_rate", "overlaps"),
        ({"bands": BANDS, "minimum_purchase": "-1"}, "minimum_purchase", "negative"),
        ({"bands": BANDS, "promotions": [PROMOTION | {"ends": "2025-02-28"}]}, "promotions.0.ends", "before it starts"),
        ({"bands": BANDS, "promotions": [PROMOTION | {"multiplier": "-2"}]}, "promotions.0.multiplier", "more than 0"),
        ({"bands": BANDS, "promotions": [PROMOTION, PROMOTION | {"name": ""}]}, "promotions.1.name", "needs a name"),
        ({"bands": BANDS, "promotions": [PROMOTION | {"weekdays": [7]}]}, "promotions.0.weekdays", "0 (Monday)"),
        ({"bands": BANDS, "promotions": [PROMOTION | {"starts": "March"}]}, "promotions.0.starts", "not a date"),
        (
            {"bands": BANDS, "promotions": [PROMOTION | {"kind": "bonus", "bonus": -5}]},
            "promotions.0.bonus",
            "negative",
        ),
        ({"bands": BANDS, "promotion_mode": "all"}, "promotion_mode", "one of"),
        ({"bands": BANDS, "stamp_card": {"every": 0, "bonus": 10}}, "stamp_card.every", "at least 1 visit"),
        ({"bands": BANDS, "stamp_card": {"every": 10, "bonus": 0}}, "stamp_card.bonus", "at least 1 point"),
        ({"bands": BANDS, "bonuses": {"birthday": -10}}, "bonuses.birthday", "negative"),
    ],
)
def test_bad_configuration_is_refused_with_its_field(data, path, message):
    with pytest.raises(RuleError) as error:
        Rule.from_dict(data)
    assert error.value.path == path
    assert message in error.value.message


# --- what a purchase's points depend on (points_key) ------------------------------------------------

KEYED_RULES = {
    "bands only": rule(),
    "promotions, a minimum in whole units": rule(
        minimum_purchase=Decimal(5),
        promotions=(tuesday_double(minimum_amount=Decimal(60)), tuesday_double(name="Any day", weekdays=(), stores=())),
    ),
    "a minimum with cents": rule(
        minimum_purchase=Decimal("5.50"), promotions=(tuesday_double(minimum_amount=Decimal("60.25")),)
    ),
}
DAYS = st.dates(min_value=dt.date(2025, 2, 20), max_value=dt.date(2025, 4, 10))


@given(
    st.sampled_from(sorted(KEYED_RULES)),
    st.tuples(st.integers(0, 300), st.integers(0, 99), DAYS, st.sampled_from(["elm-street", "main"])),
    st.tuples(st.integers(0, 99), DAYS, st.sampled_from(["elm-street", "main"])),
)
def test_purchases_with_equal_points_keys_earn_equal_points(name, first, second):
    """points_key is all that earn's points depend on: a reader may compute each key once."""
    units, cents, day, store = first
    other_cents, other_day, other_store = second
    a, b = Decimal(units) + Decimal(cents) / 100, Decimal(units) + Decimal(other_cents) / 100
    keyed = KEYED_RULES[name]
    if points_key(a, keyed, on=day, store=store) == points_key(b, keyed, on=other_day, store=other_store):
        for multiplier in (Decimal(1), Decimal("1.25")):
            assert (
                earn(a, keyed, on=day, store=store, tier_multiplier=multiplier).points
                == earn(b, keyed, on=other_day, store=other_store, tier_multiplier=multiplier).points
            )


def test_the_points_key_keeps_cents_only_where_a_minimum_has_them():
    whole, cents = KEYED_RULES["promotions, a minimum in whole units"], KEYED_RULES["a minimum with cents"]
    assert points_key(Decimal("60.10"), whole, on=TUESDAY, store="elm-street") == (60, (0, 1))
    assert points_key(Decimal("60.10"), cents, on=TUESDAY, store="elm-street") == (Decimal("60.10"), (0,))
    assert points_key(Decimal("60.10"), cents, on=WEDNESDAY, store="elm-street") == (Decimal("60.10"), ())
    assert points_key(Decimal("60.99"), rule(), on=TUESDAY, store="elm-street") == (60, ())
