"""What one ledger entry can hold: every rate, multiplier and bonus is bounded so that the largest accepted
purchase, with every promotion and the highest tier, fits (engine.check_capacity), and refused beyond that
beside its field: the draft form, the admin's JSON editor, the tier form and the services themselves."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from customers.services import enrol_customer
from rewards import engine
from rewards.engine import MOST_POINTS_PER_ENTRY as MOST
from rewards.models import CustomerMonthPoints, CustomerTier, PointsEntry, ProgramDraft, RuleVersion, Tier
from rewards.selectors import customer_balance, default_program
from rewards.services.ledger import rollup_differences
from rewards.services.program import publish_rule_version, save_draft
from rewards.services.tiers import save_tier
from tests.rewards.test_program_views import error_beside, promotion, rule_post

MILLION = Decimal("1000000.00")  # LOYALTY_MAX_AMOUNT's default


def refused_at(rule: dict, **arguments) -> str:
    with pytest.raises(engine.RuleError) as refusal:
        engine.check_capacity(engine.Rule.from_dict(rule), max_amount=MILLION, **arguments)
    return refusal.value.path


def fits(rule: dict, **arguments) -> bool:
    engine.check_capacity(engine.Rule.from_dict(rule), max_amount=MILLION, **arguments)
    return True


# --- the engine ---------------------------------------------------------------------------------------

ALWAYS = {"starts": "2000-01-01", "ends": "2999-12-31"}


def test_a_band_rate_is_bounded_by_the_largest_purchase():
    assert fits({"bands": [{"threshold": 0, "rate": "2147.4836"}]})
    assert refused_at({"bands": [{"threshold": 0, "rate": "2147.4837"}]}) == "bands.0.rate"
    assert fits({"bands": [{"threshold": 50, "rate": "1"}], "base_rate": "5000"})  # only below the first band
    assert refused_at({"bands": [], "base_rate": "5000"}) == "base_rate"


def test_every_promotion_stacked_counts_and_the_one_that_goes_over_is_named():
    rule = {
        "bands": [{"threshold": 0, "rate": "1000"}],
        "promotions": [
            {"name": "Bonus", "kind": "bonus", "bonus": 100, **ALWAYS},
            {"name": "Double", "multiplier": "2", **ALWAYS},
            {"name": "Half", "multiplier": "0.5", **ALWAYS},
            {"name": "Double again", "multiplier": "2", **ALWAYS},
        ],
    }
    # 1,000,000,000 x 2 fits; x 2 again does not, whatever the listing order (a x0.5 may not be in force).
    assert refused_at(rule) == "promotions.3.multiplier"
    assert fits(rule | {"promotion_mode": "best"})


def test_the_highest_tier_multiplies_last():
    rule = {"bands": [{"threshold": 0, "rate": "1000"}], "promotions": [{"name": "P", "multiplier": "2", **ALWAYS}]}
    assert fits(rule, tier_multiplier=Decimal("1.07"))
    assert refused_at(rule, tier_multiplier=Decimal("1.08")) == "promotions.0.multiplier"


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"bonuses": {"enrolment": 10**12}}, "bonuses.enrolment"),
        ({"bonuses": {"referral": MOST + 1}}, "bonuses.referral"),
        ({"stamp_card": {"every": 3, "bonus": MOST + 1}}, "stamp_card.bonus"),
        ({"promotions": [{"name": "B", "kind": "bonus", "bonus": 10**30, **ALWAYS}]}, "promotions.0.bonus"),
    ],
)
def test_every_bonus_is_bounded_by_one_entry(rule, path):
    assert refused_at({"bands": [{"threshold": 50, "rate": "1"}], **rule}) == path
    assert fits({"bands": [{"threshold": 50, "rate": "1"}], "bonuses": {"birthday": MOST}})


rates = st.decimals(min_value=0, max_value=50, places=2)
promotions = st.lists(
    st.one_of(
        st.builds(lambda m: {"name": "M", "multiplier": str(m), **ALWAYS}, st.decimals("0.1", "5", places=2)),
        st.builds(lambda b: {"name": "B", "kind": "bonus", "bonus": b, **ALWAYS}, st.integers(1, 10**6)),
    ),
    max_size=4,
)


@given(rates, rates, promotions, st.sampled_from(["stack", "best"]), st.decimals(0, MILLION, places=2))
def test_no_purchase_earns_more_than_the_most_a_rule_can_earn(low, high, promos, mode, amount):
    rule = engine.Rule.from_dict(
        {
            "bands": [{"threshold": 10, "rate": str(low)}, {"threshold": 500, "rate": str(high)}],
            "promotions": promos,
            "promotion_mode": mode,
        }
    )
    earned = engine.earn(amount, rule, on=dt.date(2025, 3, 4), store="any").points
    assert earned <= engine.most_points(rule, MILLION).points


# --- where a manager sets them -----------------------------------------------------------------------

NO_SECOND_BAND = dict.fromkeys(["bands-1-threshold", "bands-1-rate"], "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field_id"),
    [
        (
            {"base_rate": "9999.9999", **dict.fromkeys(["bands-0-threshold", "bands-0-rate"], "")} | NO_SECOND_BAND,
            "id_base_rate",
        ),
        ({"bands-1-rate": "100000"}, "id_bands-1-rate"),
        (promotion(**{"promotions-0-multiplier": "5000"}), "id_promotions-0-multiplier"),
        ({"enrolment_bonus": str(10**12)}, "id_enrolment_bonus"),
        ({"stamp_every": "2", "stamp_bonus": str(MOST + 1)}, "id_stamp_bonus"),
    ],
)
def test_the_draft_form_refuses_beyond_capacity_beside_the_field(manager_client, changes, field_id):
    response = manager_client.post(reverse("program:settings"), rule_post(**changes))
    assert response.status_code == 400
    assert "ledger entry holds" in error_beside(response, field_id)
    assert not ProgramDraft.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ('{"bands": [{"threshold": 0, "rate": "1e9"}]}', "bands.0.rate"),
        ('{"bands": [{"threshold": 0, "rate": "1"}], "bonuses": {"birthday": 1e30}}', "bonuses.birthday"),
    ],
)
def test_the_admin_json_editor_refuses_beyond_capacity(manager_client, rule, named):
    moment = timezone.localtime() + dt.timedelta(days=30)
    response = manager_client.post(
        reverse("admin:rewards_ruleversion_add"),
        {
            "program": default_program().pk,
            "effective_from_0": f"{moment:%Y-%m-%d}",
            "effective_from_1": "00:00:00",
            "rule": rule,
            "note": "",
        },
    )
    assert response.status_code == 200
    assert f"This rule cannot be used: {named}: " in response.content.decode()
    assert RuleVersion.objects.count() == 1


@pytest.mark.django_db
def test_the_services_refuse_beyond_capacity(manager):
    huge = engine.Rule.from_dict({"bands": [{"threshold": 0, "rate": "3000"}]})
    with pytest.raises(engine.RuleError, match="ledger entry holds"):
        publish_rule_version(program=default_program(), rule=huge, effective_from=timezone.now())
    with pytest.raises(engine.RuleError, match="ledger entry holds"):
        save_draft(program=default_program(), rule=huge, author=manager)
    assert RuleVersion.objects.count() == 1 and not ProgramDraft.objects.exists()


@pytest.mark.django_db
def test_the_tier_form_refuses_a_multiplier_beyond_capacity_beside_it(manager_client):
    publish_rule_version(
        program=default_program(),
        rule=engine.Rule.from_dict({"bands": [{"threshold": 0, "rate": "1500"}]}),
        effective_from=timezone.now() + dt.timedelta(days=1),
    )
    tier = {"name": "Gold", "rank": "1", "threshold": "100", "multiplier": "1.50"}
    response = manager_client.post(reverse("program:tiers"), tier)
    assert response.status_code == 200
    assert "At most 1.43" in response.content.decode()
    assert not Tier.objects.exists()
    assert manager_client.post(reverse("program:tiers"), tier | {"multiplier": "1.43"}).status_code == 302


# --- the largest accepted values, published, and the till still records ---------------------------------


@pytest.mark.django_db
def test_the_largest_accepted_values_publish_and_the_till_records_the_largest_amount(staff_client, staff):
    gold = save_tier(tier=Tier(program=default_program(), name="Gold", rank=1, threshold=1, multiplier=Decimal("1.5")))
    # With a x2 promotion, a +1,000 promotion and the x1.5 tier: floor((2B + 1000) x 1.5) <= MOST, where
    # B = 1,000,000 x rate and a rate has four places: B = 715,827,300 is the largest, the rate 715.8273.
    largest = {
        "bands": [{"threshold": 0, "rate": "715.8273"}],
        "promotions": [
            {"name": "Double", "multiplier": "2", **ALWAYS},
            {"name": "Plus", "kind": "bonus", "bonus": 1000, **ALWAYS},
        ],
        "stamp_card": {"every": 1, "bonus": MOST},
        "bonuses": {"enrolment": MOST, "birthday": MOST, "referral": MOST},
    }
    with pytest.raises(engine.RuleError):
        engine.check_capacity(
            engine.Rule.from_dict(largest | {"bands": [{"threshold": 0, "rate": "715.8274"}]}),
            max_amount=MILLION,
            tier_multiplier=gold.multiplier,
        )
    publish_rule_version(
        program=default_program(),
        rule=engine.Rule.from_dict(largest),
        effective_from=timezone.now() - dt.timedelta(minutes=1),
    )
    customer = enrol_customer(name="Big Spender")
    CustomerTier.objects.create(customer=customer, tier=gold, since=timezone.now())

    for _ in range(2):
        # The second of two equal purchases within minutes is confirmed (the till asks first).
        sale = {
            "customer": customer.member_number,
            "amount": "1000000.00",
            "idempotency_key": str(uuid.uuid4()),
            "confirm_repeat": "1",
        }
        assert staff_client.post("/till/", sale).status_code == 302

    earned = list(PointsEntry.objects.filter(kind="earn").values_list("points", flat=True))
    assert earned == [2_147_483_400] * 2  # floor((1,431,654,600 + 1,000) x 1.5): at most what one entry holds
    month = CustomerMonthPoints.objects.get(customer=customer)
    # The month's sums go past 32 bits: the roll-up counts in 64.
    assert (month.earned, month.bonus) == (2 * 2_147_483_400, 3 * MOST)
    assert customer_balance(customer.pk) == 2 * 2_147_483_400 + 3 * MOST
    assert rollup_differences() == []
    platinum = Tier(program=default_program(), name="Platinum", rank=2, threshold=2, multiplier=Decimal("1.51"))
    with pytest.raises(ValidationError, match=r"At most 1\.50"):
        save_tier(tier=platinum)
