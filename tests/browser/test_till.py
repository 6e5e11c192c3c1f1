"""The till in a real browser: what a cashier does all day, by mouse and by keyboard, at a tablet's width."""

import re

from playwright.sync_api import expect

from customers.models import Customer
from tests.factories import CustomerFactory, StaffFactory
from transactions.models import Transaction

NO_HORIZONTAL_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def test_staff_enrol_a_customer_at_the_till_record_120_see_90_points_refund_30_and_see_40(page, sign_in):
    sign_in(StaffFactory(first_name="Sam"))
    expect(page).to_have_url(re.compile(r"/till/$"))

    page.get_by_label("Customer", exact=True).fill("Nadia Novak")
    page.get_by_label("Amount", exact=True).fill("120.00")
    page.get_by_role("button", name="Record purchase").click()

    # Nobody matches: the enrolment step, with the name typed and the amount kept.
    expect(page.get_by_text("No customer matches “Nadia Novak”")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Nadia Novak")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.get_by_role("button", name="Enrol member").click()

    member = Customer.objects.get(name="Nadia Novak")
    expect(page.get_by_text(f"Enrolled Nadia Novak as member {member.member_number}.")).to_be_visible()
    expect(page.get_by_label("Customer", exact=True)).to_have_value(member.member_number)
    expect(page.get_by_label("Amount", exact=True)).to_have_value("120.00")
    expect(page.get_by_label("Amount", exact=True)).to_be_focused()
    page.get_by_role("button", name="Record purchase").click()

    confirmation = page.get_by_role("status").filter(has_text="Recorded 120.00 for Nadia Novak")
    expect(confirmation.locator(".points-earned")).to_have_text("90")
    expect(confirmation).to_contain_text("50 × 1 (50–100) = 50 points")
    expect(confirmation).to_contain_text("20 × 2 (over 100) = 40 points")
    expect(page.locator("#balance")).to_have_text("90 points")
    expect(page.get_by_label("Customer", exact=True)).to_be_focused()

    page.get_by_label("Refund amount").fill("30.00")
    page.get_by_role("button", name="Refund", exact=True).click()

    expect(page.get_by_text("Refunded 30.00 of receipt")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("40 points")
    assert list(Transaction.objects.order_by("id").values_list("kind", "amount")) == [
        ("purchase", 120),
        ("refund", 30),
    ]


def test_keyboard_only_tab_order_and_enter_record_and_the_cursor_returns_to_customer(page, sign_in):
    customer = CustomerFactory(name="Kim Keys")
    sign_in(StaffFactory())

    expect(page.get_by_label("Customer", exact=True)).to_be_focused()
    page.keyboard.type(customer.member_number)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Amount", exact=True)).to_be_focused()
    page.keyboard.type("120.00")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Receipt number")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Record purchase")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")

    expect(page.get_by_role("status").filter(has_text="Recorded 120.00 for Kim Keys")).to_be_visible()
    expect(page.get_by_label("Customer", exact=True)).to_be_focused()
    assert Transaction.objects.get().customer == customer

    # A bad amount: the message beside the field, the cursor in it, the values kept.
    page.keyboard.type(customer.member_number)
    page.keyboard.press("Tab")
    page.keyboard.type("12,50")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Amount must be a number like 12.50, not '12,50'.")).to_be_visible()
    expect(page.get_by_label("Amount", exact=True)).to_be_focused()
    expect(page.get_by_label("Customer", exact=True)).to_have_value(customer.member_number)
    assert Transaction.objects.count() == 1


def test_a_double_click_records_once(page, sign_in):
    customer = CustomerFactory()
    sign_in(StaffFactory())
    page.get_by_label("Customer", exact=True).fill(customer.member_number)
    page.get_by_label("Amount", exact=True).fill("80.00")
    page.get_by_role("button", name="Record purchase").dblclick()
    expect(page.get_by_role("status").filter(has_text="Recorded 80.00")).to_be_visible()
    page.reload()
    expect(page.get_by_role("status").filter(has_text="Recorded 80.00")).to_be_visible()
    assert Transaction.objects.count() == 1


def test_the_till_fits_a_tablet_without_horizontal_scrolling(page, sign_in):
    page.set_viewport_size({"width": 800, "height": 1280})
    smiths = [CustomerFactory(name=f"Pat Smith-Longname-{n}", email=f"pat.smith.{n}@example.com") for n in range(3)]
    sign_in(StaffFactory())
    assert page.evaluate(NO_HORIZONTAL_OVERFLOW)

    # Several matches, offered as choices.
    page.get_by_label("Customer", exact=True).fill("smith")
    page.get_by_label("Amount", exact=True).fill("120.00")
    page.get_by_role("button", name="Record purchase").click()
    expect(page.get_by_role("button", name=re.compile(smiths[0].member_number))).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_OVERFLOW)

    # Choosing one records the purchase; the customer's recent transactions with refund forms fit too.
    page.get_by_role("button", name=re.compile(smiths[1].member_number)).click()
    expect(page.get_by_role("status").filter(has_text="Recorded 120.00")).to_be_visible()
    expect(page.get_by_label("Refund amount")).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_OVERFLOW)
    assert Transaction.objects.get().customer == smiths[1]

    page.get_by_role("link", name=Transaction.objects.get().receipt_number).first.click()
    expect(page.get_by_role("button", name="Refund all 120.00")).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_OVERFLOW)


def test_suggestions_appear_while_typing_and_choosing_one_fills_the_member_number(page, sign_in):
    customer = CustomerFactory(name="Suggested Person")
    sign_in(StaffFactory())
    page.get_by_label("Customer", exact=True).press_sequentially("Sugg")
    option = page.locator("#customer-suggestions option")
    expect(option).to_have_count(1)
    expect(option).to_have_attribute("value", customer.member_number)
    expect(option).to_have_attribute("label", re.compile("Suggested Person"))
