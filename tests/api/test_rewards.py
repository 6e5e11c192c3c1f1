"""GET /api/v1/rewards and POST /api/v1/redemptions: the till's redemption service."""

import pytest

from rewards.models import Redemption
from rewards.selectors import customer_balance
from tests.factories import RewardFactory, StoreFactory, purchase

from .conftest import problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich(customer):
    purchase(customer, "120.00")  # 90 points
    return customer


def test_the_catalog_and_what_one_customer_can_redeem_now(staff_api, rich):
    coffee = RewardFactory(
        name="Free coffee", points_cost=30, benefit="free_item", amount_off=None, description="coffee"
    )
    RewardFactory(name="Weekend away", points_cost=5000)
    RewardFactory(name="Out of stock", points_cost=10, stock=0)

    catalog = staff_api.get("rewards").json()
    assert [reward["name"] for reward in catalog["results"]] == ["Out of stock", "Free coffee", "Weekend away"]
    affordable = staff_api.get("rewards", {"customer": "M100"}).json()
    assert affordable["results"] == [
        {
            "id": coffee.pk,
            "name": "Free coffee",
            "points_cost": 30,
            "benefit": "free_item",
            "gives": "Free coffee",
            "amount_off": None,
            "description": "coffee",
            "active_from": None,
            "active_until": None,
            "stock": None,
            "per_customer_limit": None,
            "min_tier": None,
        }
    ]
    unknown = problem(staff_api.get("rewards", {"customer": "NOPE"}))
    assert unknown["errors"] == [{"parameter": "customer", "detail": "No customer has the member number NOPE."}]


def test_redeem_a_reward_spends_its_points_and_answers_the_new_balance(make_key, rich):
    elm = StoreFactory(code="elm")
    key, api = make_key("staff", store=elm)
    reward = RewardFactory(name="5 off", points_cost=50)

    response = api.post("redemptions", {"customer": "M100", "reward": reward.pk})

    assert response.status_code == 201, response.content
    redemption = Redemption.objects.get()
    assert response.json() == {
        "redemption": {
            "id": redemption.pk,
            "reward": {"id": reward.pk, "name": "5 off"},
            "points": 50,
            "store": "elm",
            "redeemed_at": response.json()["redemption"]["redeemed_at"],
        },
        "customer": {"member_number": "M100", "name": "Ann Example"},
        "balance": 40,
    }
    assert redemption.redeemed_by == key.user


def test_a_redemption_the_balance_cannot_pay_is_refused_beside_the_reward(staff_api, rich):
    reward = RewardFactory(name="Big one", points_cost=500)
    refused = problem(staff_api.post("redemptions", {"customer": "M100", "reward": reward.pk}))
    assert refused["errors"] == [{"pointer": "#/reward", "detail": "Ann Example has 90 points; Big one needs 500."}]
    unknown = problem(staff_api.post("redemptions", {"customer": "M100", "reward": 99999}))
    assert unknown["errors"] == [{"pointer": "#/reward", "detail": "No reward has the id 99999."}]
    assert customer_balance(rich.pk) == 90 and not Redemption.objects.exists()
