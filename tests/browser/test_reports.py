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


def test_manager_sorts_filters_opens_a_statement_and_downloads_csv(page, sign_in, tables_scrolling):
    ann = make_demo_data()[0]
    sign_in(ManagerFactory(first_name="Maria"))

    page.goto("/reports/points/?start=2025-01&months=3")
    expect(page.get_by_role("heading", name=re.compile("Monthly points"))).to_be_visible()
    assert body_member_numbers(page) == ["A001", "B002", "C003"]
    expect(page.locator("#monthly-points tfoot")).to_contain_text("180")

    # Sort by total: a number, so the first click puts the largest first; the second, the smallest.
    page.locator("#monthly-points thead").get_by_role("link", name="Total").click()
    expect(page).to_have_url(re.compile(r"sort=-total"))
    assert body_member_numbers(page) == ["C003", "A001", "B002"]
    expect(page.locator("#monthly-points thead th[aria-sort=descending]")).to_have_text("Total")
    page.locator("#monthly-points thead").get_by_role("link", name="Total").click()
    expect(page).to_have_url(re.compile(r"sort=total"))
    assert body_member_numbers(page) == ["B002", "A001", "C003"]
    page.locator("#monthly-points thead").get_by_role("link", name="Total").click()
    expect(page).to_have_url(re.compile(r"sort=-total"))

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
        ["Total", "", "90", "-50", "0", "40", "0", "0", "0"],
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
    assert tables_scrolling(page) == []

    # At a tablet's width the ledger still fits whole: the store and who posted each entry leave their columns
    # for a line under the transaction.
    page.set_viewport_size({"width": 768, "height": 1024})
    assert tables_scrolling(page) == []
    expect(page.locator("#ledger tbody tr").first.locator("td").nth(3)).to_be_hidden()  # the store's column
    expect(page.locator("#ledger tbody tr").first.locator(".narrow-only")).to_have_text("Main store")


def test_manager_sorts_filters_and_downloads_the_customer_list(page, sign_in, axe_violations):
    ann, bob, cy = make_demo_data()  # balances: Ann 40, Bob 25, Cy 115
    dee = CustomerFactory(member_number="D004", name="Dee Dormant")  # never came
    sign_in(ManagerFactory())
    page.goto("/customers/")
    page.get_by_role("navigation", name="Customers").get_by_role("link", name="Customer list").click()
    expect(page.get_by_role("heading", name="Customer list")).to_be_visible()

    def numbers():
        return page.locator("#customer-list tbody tr td:first-child").all_inner_texts()

    assert numbers() == ["A001", "B002", "C003", "D004"]
    # Balance is a number: the first click, the largest first.
    page.locator("#customer-list thead").get_by_role("link", name="Balance").click()
    assert numbers() == ["C003", "A001", "B002", "D004"]
    expect(page.locator("#customer-list tbody tr").first).to_contain_text("115")
    # Last visit, latest first; the one who never came last.
    page.locator("#customer-list thead").get_by_role("link", name="Last visit").click()
    assert numbers()[-1] == "D004"
    assert axe_violations(page) == []

    # Filters: a balance of at least 30, then nobody seen since a date.
    page.get_by_label("Balance at least").fill("30")
    page.get_by_role("button", name="Show").click()
    assert sorted(numbers()) == ["A001", "C003"]
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Not seen since").fill("2025-03-01")
    page.get_by_role("button", name="Show").click()
    assert sorted(numbers()) == ["A001", "B002", "D004"]  # Ann and Bob last came in February; Dee never
    page.get_by_label("Member").fill("dee")
    page.get_by_role("button", name="Show").click()
    assert numbers() == ["D004"]

    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    rows = list(csv.reader(io.StringIO(open(download_info.value.path(), encoding="utf-8").read())))  # noqa: SIM115
    assert rows[0] == [
        "Member number",
        "Name",
        "Balance",
        "Tier",
        "Last visit",
        "Spend, 12 months",
        "Points, 12 months",
    ]
    assert rows[1:] == [["D004", "Dee Dormant", "0", "", "", "0.00", "0"]]
    assert dee.pk and ann.pk and bob.pk and cy.pk
