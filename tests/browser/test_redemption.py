"""Redeeming a reward at the till in a real browser."""

from playwright.sync_api import expect

from rewards.models import Redemption, Reward
from rewards.selectors import customer_balance
from tests.factories import CustomerFactory, RewardFactory, StaffFactory, purchase


def test_staff_redeem_a_reward_for_a_customer_at_the_till_and_see_the_new_balance(page, sign_in):
    customer = CustomerFactory(name="Rosa Rouge", member_number="R-1001")
    purchase(customer, "120.00")  # 90 points
    RewardFactory(
        name="Free gift wrap",
        points_cost=60,
        benefit=Reward.Benefit.FREE_ITEM,
        amount_off=None,
        description="gift wrap",
    )
    RewardFactory(name="Spa day", points_cost=5000)
    sign_in(StaffFactory())

    page.get_by_label("Customer", exact=True).fill("R-1001")
    page.get_by_role("button", name="Find customer").click()
    expect(page.locator("#balance")).to_have_text("90 points")
    # Out of reach: no Redeem button, but what they are saving towards.
    expect(page.get_by_role("button", name="Redeem Spa day")).to_have_count(0)
    expect(page.locator("#next-reward")).to_contain_text("4,910 points to Spa day")

    page.get_by_role("button", name="Redeem Free gift wrap").click()

    confirmation = page.get_by_role("status").filter(has_text="Redeemed Free gift wrap for Rosa Rouge")
    expect(confirmation.locator(".points-spent")).to_have_text("60")
    expect(confirmation.locator(".new-balance")).to_have_text("30")
    expect(page.locator("#balance")).to_have_text("30 points")
    assert customer_balance(customer.pk) == 30
    assert Redemption.objects.get().reward.name == "Free gift wrap"
