"""A manager tries a double-points promotion on the demo data, publishes it, and the next purchase earns double."""

import datetime as dt
import re
from decimal import Decimal

from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from rewards.models import PointsEntry, RuleVersion
from rewards.simulation import default_period
from tests.factories import ManagerFactory
from transactions.models import Store
from transactions.services import record_purchase


def test_manager_simulates_and_publishes_a_double_points_promotion(page, sign_in):
    call_command("load_demo_data", "--customers", "20", "--seed", "7")
    manager = ManagerFactory(first_name="Maria")
    first_month, _months = default_period()
    sign_in(manager)

    page.goto("/program/")
    expect(page.get_by_role("heading", name=re.compile("Program settings"))).to_be_visible()
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
