"""A manager reads the liability, closes a month, and the till then refuses a purchase dated in it."""

import re

from playwright.sync_api import expect

from tests.factories import CustomerFactory, ManagerFactory, at, purchase, refund


def test_manager_reads_the_liability_closes_january_and_the_till_refuses_a_january_date(page, sign_in):
    ann = CustomerFactory(member_number="A001", name="Ann Archer")
    refund(purchase(ann, "120.00", when=at(2025, 1, 10)), "30.00", when=at(2025, 2, 5))  # 90, then -50
    sign_in(ManagerFactory(first_name="Maria"))

    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounting").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Points liability")
    page.get_by_label("From month").fill("2025-01")
    page.get_by_label("Months", exact=True).fill("2")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"start=2025-01"))
    closing = page.locator("#roll-forward tr", has_text="Closing balance")
    expect(closing).to_contain_text("90")
    expect(closing).to_contain_text("40")
    expect(page.locator("#closing-money")).to_have_text("$0.40")

    page.get_by_role("navigation", name="Accounting").get_by_role("link", name="Month close").click()
    page.get_by_label("Month to close").fill("2025-01")
    page.get_by_role("button", name="Close the month").click()
    expect(page.locator(".messages")).to_contain_text("January 2025 is closed")
    expect(page.locator("#closed-through")).to_have_text("January 2025")
    expect(page.locator("#closes")).to_contain_text("Exactly")

    page.goto("/till/")
    page.get_by_label("Customer").fill("A001")
    page.get_by_label("Amount").fill("75.00")
    page.get_by_label("When").fill("2025-01-20T12:00")
    page.get_by_role("button", name="Record purchase").click()
    expect(page.locator("#id_occurred_at_error")).to_contain_text("January 2025 is closed")



def test_the_accounting_pages_pass_the_accessibility_check(page, sign_in, owner, axe_violations):
    ann = CustomerFactory(member_number="A001", name="Ann Archer")
    refund(purchase(ann, "120.00", when=at(2025, 1, 10)), "30.00", when=at(2025, 2, 5))
    sign_in(owner)
    for path in [
        "/accounting/?start=2025-01&months=3",
        "/accounting/breakage/?start=2025-01&months=3",
        "/accounting/ageing/?as_of=2025-03",
        "/accounting/close/",
        "/accounting/point-value/",
    ]:
        page.goto(path)
        assert axe_violations(page) == [], path
