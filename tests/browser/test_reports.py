"""A manager reads the monthly points report in the browser: sorts, filters, opens a statement, downloads CSV."""

import csv
import io
import re

from playwright.sync_api import expect

from tests.factories import CustomerFactory, ManagerFactory, StoreFactory, at, purchase, refund


def make_demo_data():
    harbour = StoreFactory(code="harbour", name="Harbour")
    ann = CustomerFactory(member_number="A001", name="Ann Archer")
    bob = CustomerFactory(member_number="B002", name="Bob Baker")
    cy = CustomerFactory(member_number="C003", name="Cy Cole")
    bought = purchase(ann, "120.00", when=at(2025, 1, 31, 23, 30))  # 90
    refund(bought, "30.00", when=at(2025, 2, 2))  # -50
    purchase(bob, "75.00", when=at(2025, 2, 28))  # 25
    purchase(cy, "120.00", when=at(2025, 3, 15), store=harbour)  # 90
    purchase(cy, "75.00", when=at(2025, 3, 16))  # 25
    return ann, bob, cy


def body_member_numbers(page) -> list[str]:
    return page.locator("#monthly-points tbody tr td:first-child").all_inner_texts()


def test_manager_sorts_filters_opens_a_statement_and_downloads_csv(page, sign_in):
    ann = make_demo_data()[0]
    sign_in(ManagerFactory(first_name="Maria"))

    page.goto("/reports/points/?start=2025-01&months=3")
    expect(page.get_by_role("heading", name=re.compile("Monthly points"))).to_be_visible()
    assert body_member_numbers(page) == ["A001", "B002", "C003"]
    expect(page.locator("#monthly-points tfoot")).to_contain_text("180")

    # Sort by total: the first click sorts ascending, the second descending.
    page.locator("#monthly-points thead").get_by_role("link", name="Total").click()
    expect(page).to_have_url(re.compile(r"sort=total"))
    assert body_member_numbers(page) == ["B002", "A001", "C003"]
    page.locator("#monthly-points thead").get_by_role("link", name="Total").click()
    expect(page).to_have_url(re.compile(r"sort=-total"))
    assert body_member_numbers(page) == ["C003", "A001", "B002"]

    # Filter to one customer by the search box; the sort is kept.
    page.get_by_label("Customer").fill("Ann")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"search=Ann"))
    expect(page).to_have_url(re.compile(r"sort=-total"))
    assert body_member_numbers(page) == ["A001"]
    expect(page.locator("#monthly-points tbody")).to_contain_text("Ann Archer")
    expect(page.locator("#monthly-points tfoot")).to_contain_text("40")
    report_url = page.url

    # Download the CSV of what is on screen.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename == "monthly-points-2025-01-3m.csv"
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))  # noqa: SIM115
    assert rows == [
        ["Member number", "Name", "2025-01", "2025-02", "2025-03", "Total", "Redeemed", "Expired", "Adjusted"],
        ["A001", "Ann Archer", "90", "-50", "0", "40", "0", "0", "0"],
    ]

    # Follow the link to the customer's statement and see the chart.
    page.goto(report_url)
    page.locator("#monthly-points tbody").get_by_role("link", name="A001").click()
    expect(page).to_have_url(re.compile(rf"/reports/customers/{ann.pk}/$"))
    expect(page.get_by_role("heading", name="Statement: Ann Archer")).to_be_visible()
    chart = page.locator("svg#statement-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("title").first).to_have_text(re.compile("Points of Ann Archer per month"))
    expect(page.locator("#balance")).to_have_text("40 points")
    expect(page.locator("#ledger")).to_contain_text("Reversed (refund)")
