"""A detached month's line in the browser (PostgreSQL: detaching needs the partitioned ledger): the statement at
desktop and tablet widths and the member's card at a phone's width show it, fit the width and pass the
accessibility check. Screenshots go to SCREENSHOTS_DIR when it is set (for looking at them), else the test's
temporary folder."""

import os
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import expect

from members.services.access import issue_card_key
from rewards.models import CarriedPoints
from rewards.selectors import customer_balance
from rewards.services.archive import detach_month
from tests.factories import ManagerFactory
from tests.rewards.test_partitions import JANUARY, busy_january

pytestmark = pytest.mark.postgres_only

FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
WIDTHS = {
    "desktop": {"width": 1366, "height": 900},
    "tablet": {"width": 820, "height": 1180},
    "tablet-768": {"width": 768, "height": 1024},
}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def detached_january():
    ann, _bob, _dan = busy_january()
    detach_month(JANUARY)
    yield ann
    # Partitions outlive a transactional test: leave January without them, as the other tests expect it.
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS rewards_pointsentry_2025_01, rewards_pointsentry_2025_01_kept")


def test_the_statement_and_the_card_show_the_archived_month(
    page, sign_in, axe_violations, tables_scrolling, detached_january, tmp_path
):
    ann = detached_january
    shots = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    carried = CarriedPoints.objects.get(customer=ann, month=JANUARY)
    line = f"January 2025 — archived: {carried.points:,} points carried"
    sign_in(ManagerFactory())
    for name, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.goto(f"/reports/customers/{ann.pk}/")
        expect(page.locator("#carried")).to_contain_text(line)
        expect(page.locator("#balance")).to_have_text(f"{customer_balance(ann.pk):,} points")
        assert page.evaluate(FITS), f"the statement scrolls sideways at {size['width']} px"
        # The ledger fits whole: its points and how they were computed are not behind a scroll bar.
        assert tables_scrolling(page) == [], f"at {size['width']} px"
        expect(page.locator("#ledger tbody tr").first).to_contain_text("Main store")  # its own column or line
        assert axe_violations(page) == []
        page.locator("#carried").scroll_into_view_if_needed()
        page.screenshot(path=shots / f"statement-{name}.png", full_page=True)

    page.context.clear_cookies()
    page.set_viewport_size(PHONE)
    page.goto(f"/card/open/{issue_card_key(ann)}/")
    expect(page.locator(".m-activity")).to_contain_text(line)
    assert page.evaluate(FITS), "the card scrolls sideways at 390 px"
    assert axe_violations(page) == []
    page.screenshot(path=shots / "card-phone.png", full_page=True)
