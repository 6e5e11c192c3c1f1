"""A manager adds a double-points promotion, tries it on the past months, publishes it, and the next purchase
earns double; the settings page shows every problem at once, at the top."""

import datetime as dt
import re
from decimal import Decimal

from django.utils import timezone
from playwright.sync_api import expect

from rewards.calendar import add_months
from rewards.local_time import local_midnight
from rewards.models import PointsEntry, RuleVersion
from rewards.simulation import default_period
from tests.factories import CustomerFactory, ManagerFactory, purchase
from transactions.models import Store
from transactions.services import record_purchase


def test_manager_simulates_and_publishes_a_double_points_promotion(page, sign_in, axe_violations):
    first_month, _months = default_period()
    for n, customer in enumerate(CustomerFactory.create_batch(6)):
        for month in range(3):
            purchase(
                customer,
                f"{80 + 10 * n}.00",
                when=local_midnight(add_months(first_month, month)) + dt.timedelta(days=n + 3),
            )
    manager = ManagerFactory(first_name="Maria")
    sign_in(manager)

    page.goto("/program/")
    expect(page.get_by_role("heading", name=re.compile("Earning rule"))).to_be_visible()
    # No blank rows and no "Remove" checkboxes: a promotion is added with a button (no JavaScript needed).
    expect(page.get_by_role("checkbox", name=re.compile("Remove"))).to_have_count(0)
    page.get_by_role("button", name="Add a promotion").click()
    page.locator("#id_promotions-0-name").fill("Double points")
    page.locator("#id_promotions-0-kind").select_option("multiplier")
    page.locator("#id_promotions-0-multiplier").fill("2")
    page.locator("#id_promotions-0-starts").fill(first_month.isoformat())
    page.locator("#id_promotions-0-ends").fill((timezone.localdate() + dt.timedelta(days=30)).isoformat())
    page.get_by_role("button", name="Save draft and simulate").click()

    expect(page.get_by_role("heading", name="What-if simulator")).to_be_visible()
    actual = int(page.locator('[data-total="actual"]').get_attribute("data-value"))
    draft = int(page.locator('[data-total="draft"]').get_attribute("data-value"))
    assert actual > 0
    assert draft == 2 * actual  # every purchase of the period doubled, and so every refund of them
    assert int(page.locator('[data-total="difference"]').get_attribute("data-value")) == actual
    assert RuleVersion.objects.count() == 1  # nothing published, nothing written

    assert axe_violations(page) == []
    page.get_by_role("button", name="Publish draft").click()
    expect(page.get_by_text(re.compile("Published: the new rule is in force from"))).to_be_visible()
    expect(page.get_by_role("table", name="Rule versions")).to_contain_text("Maria")

    customer = PointsEntry.objects.filter(kind="earn").first().customer
    recorded = record_purchase(
        customer=customer, store=Store.objects.get(is_default=True), amount=Decimal("120.00"), recorded_by=manager
    )
    assert recorded.entry.points == 180
    assert recorded.entry.explanation.endswith("Double points ×2 → 180")
    assert recorded.entry.rule_version.published_by == manager


def test_every_problem_of_the_rule_is_listed_at_the_top_in_one_round(page, sign_in):
    sign_in(ManagerFactory())
    page.goto("/program/")
    page.get_by_role("button", name="Add a promotion").click()
    page.locator("#id_promotions-0-name").fill("Spring")
    page.locator("#id_promotions-0-multiplier").fill("2")
    page.locator("#id_promotions-0-starts").fill("2030-03-31")
    page.locator("#id_promotions-0-ends").fill("2030-03-01")
    page.locator("#id_bands-1-threshold").fill("40")  # below the first band's 50
    page.locator("#id_birthday_bonus").fill("-5")
    page.get_by_role("button", name="Save draft", exact=True).click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("3 problems to fix: the draft was not saved")
    expect(summary).to_contain_text("Band 2, from (whole units)")
    expect(summary).to_contain_text("Promotion 1, ends")
    expect(summary).to_contain_text("Birthday bonus")
    summary.get_by_role("link", name=re.compile("Band 2")).click()
    expect(page.locator("#id_bands-1-threshold")).to_be_focused()

    # Removing a row is a button too, and saves nothing until Save draft.
    page.get_by_role("button", name="Remove band 2").click()
    expect(page.locator("#id_bands-1-threshold")).to_have_count(0)
    assert not RuleVersion.objects.exclude(published_by=None).exists()
