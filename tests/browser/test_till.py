"""The till in a real browser: what a cashier does all day, by mouse and by keyboard, at a tablet's width, and
without JavaScript."""

import datetime as dt
import re

from django.utils import timezone
from playwright.sync_api import expect

from customers.models import Customer
from tests.factories import CLASSIC, CustomerFactory, ManagerFactory, StaffFactory, publish
from transactions.models import Transaction

from .conftest import PASSWORD

NO_HORIZONTAL_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def account_lines(locator) -> tuple[list[int], int]:
    """The points of each line of a confirmation's account, and its total, as numbers."""

    def number(text: str) -> int:
        return int(text.replace(",", "").replace("+", "").replace("\u2212", "-"))

    lines = [number(cell) for cell in locator.locator("table.account tbody td").all_inner_texts()]
    return lines, number(locator.locator("table.account tfoot td").inner_text())


def test_staff_enrol_and_record_in_one_step_then_refund_30_and_see_40(page, sign_in, axe_violations):
    sign_in(StaffFactory(first_name="Sam"))
    expect(page).to_have_url(re.compile(r"/till/$"))

    page.get_by_label("Customer", exact=True).fill("Nadia Novak")
    page.get_by_label("Amount", exact=True).fill("120.00")
    page.get_by_role("button", name="Record purchase").click()

    # Nobody matches: the enrolment, with the name typed, which records the 120.00 in the same step.
    expect(page.get_by_role("heading", name="No customer matches “Nadia Novak”")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Nadia Novak")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.get_by_label("Phone").fill("(212) 555-0130")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Enrol and record $120.00").click()

    member = Customer.objects.get(name="Nadia Novak")
    assert member.phone == "+12125550130"
    expect(page.get_by_text(f"Enrolled Nadia Novak as member {member.member_number}.")).to_be_visible()
    confirmation = page.get_by_role("status").filter(has_text="Recorded $120.00 for Nadia Novak")
    expect(confirmation.locator(".points-earned")).to_have_text("90")
    assert account_lines(confirmation) == ([50, 40], 90)
    expect(page.locator("#balance")).to_have_text("90 points")
    expect(page.get_by_label("Customer", exact=True)).to_be_focused()
    # The customer who has just paid is not beside the next one's form: no Redeem buttons, one way back.
    expect(page.get_by_text("Rewards they can have")).to_have_count(0)
    assert axe_violations(page) == []

    page.get_by_role("link", name="Back to Nadia Novak").click()
    page.get_by_text("Refund…").click()
    page.get_by_label("Refund amount").fill("30.00")
    page.get_by_label("Reason").fill("Wrong size")
    page.get_by_role("button", name="Refund", exact=True).click()

    refunded = page.get_by_role("status").filter(has_text="Refunded $30.00 of receipt")
    expect(refunded.locator(".points-reversed")).to_have_text("\u221250")
    expect(refunded).to_contain_text("reason: Wrong size")
    expect(page.locator("#balance")).to_have_text("40 points")
    assert list(Transaction.objects.order_by("id").values_list("kind", "amount")) == [
        ("purchase", 120),
        ("refund", 30),
    ]


def test_with_a_promotion_the_lines_add_up_on_the_till_the_purchase_and_the_statement(page, sign_in):
    today = timezone.localdate()
    promotion = {"name": "Double days", "multiplier": "2", "starts": f"{today}", "ends": f"{today}"}
    publish(CLASSIC | {"promotions": [promotion]}, timezone.now() - dt.timedelta(minutes=5))
    customer = CustomerFactory(name="Pia Promo")
    manager = ManagerFactory()
    sign_in(manager)
    page.goto("/till/")

    page.get_by_label("Customer", exact=True).fill(customer.member_number)
    page.get_by_label("Amount", exact=True).fill("120.00")
    page.get_by_role("button", name="Record purchase").click()

    confirmation = page.get_by_role("status").filter(has_text="Recorded $120.00 for Pia Promo")
    expect(confirmation.locator(".points-earned")).to_have_text("180")
    expect(confirmation).to_contain_text("Double days ×2")
    lines, total = account_lines(confirmation)
    assert lines == [50, 40, 90] and sum(lines) == total == 180

    page.get_by_role("link", name="Open this purchase").click()
    # all_inner_texts() does not wait: read the purchase's page once it is there, not the page in between.
    expect(page).to_have_url(re.compile(r"/transactions/\d+/$"))
    expect(page.locator("main table.account tbody td").first).to_be_visible()
    lines, total = account_lines(page.locator("main"))
    assert lines == [50, 40, 90] and sum(lines) == total == 180

    page.goto(f"/reports/customers/{customer.pk}/")
    ledger_lines = page.locator("#ledger tbody tr").first.locator("ul.account-lines li").all_inner_texts()
    assert ledger_lines == ["50 × 1 (50–100): 50", "20 × 2 (over 100): +40", "Double days ×2: +90"]
    expect(page.locator("#ledger tbody tr").first).to_contain_text("+180")


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

    expect(page.get_by_role("status").filter(has_text="Recorded $120.00 for Kim Keys")).to_be_visible()
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

    # The same amount again within minutes: asked first, answered with the keyboard.
    page.get_by_label("Amount", exact=True).fill("120.00")
    page.keyboard.press("Enter")
    question = page.get_by_role("alert").filter(has_text="Kim Keys was charged $120.00")
    expect(question).to_be_visible()
    expect(page.get_by_role("button", name="Yes, record $120.00 again")).to_be_focused()
    assert Transaction.objects.count() == 1
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Recorded $120.00 for Kim Keys")).to_be_visible()
    assert Transaction.objects.count() == 2


def test_several_matches_are_a_choice_made_with_the_keyboard(page, sign_in):
    smiths = [CustomerFactory(name=f"Pat Smith {n}") for n in range(3)]
    sign_in(StaffFactory())
    page.get_by_label("Customer", exact=True).fill("smith")
    page.get_by_label("Amount", exact=True).fill("60.00")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="3 customers match “smith”")).to_be_visible()
    expect(page.locator(".field-error")).to_have_count(0)  # a choice, not an error
    first = page.get_by_role("button", name=re.compile(smiths[0].member_number))
    expect(first).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the second one
    expect(page.get_by_role("status").filter(has_text=f"Recorded $60.00 for {smiths[1].name}")).to_be_visible()
    assert Transaction.objects.get().customer == smiths[1]


def test_a_double_click_records_once(page, sign_in):
    customer = CustomerFactory()
    sign_in(StaffFactory())
    page.get_by_label("Customer", exact=True).fill(customer.member_number)
    page.get_by_label("Amount", exact=True).fill("80.00")
    page.get_by_role("button", name="Record purchase").dblclick()
    expect(page.get_by_role("status").filter(has_text="Recorded $80.00")).to_be_visible()
    page.reload()
    expect(page.get_by_role("status").filter(has_text="Recorded $80.00")).to_be_visible()
    assert Transaction.objects.count() == 1


def test_the_till_fits_a_tablet_without_horizontal_scrolling(page, sign_in):
    page.set_viewport_size({"width": 800, "height": 1280})
    smiths = [CustomerFactory(name=f"Pat Smith-Longname-{n}", email=f"pat.smith.{n}@example.com") for n in range(3)]
    sign_in(StaffFactory())
    assert page.evaluate(NO_HORIZONTAL_OVERFLOW)

    page.get_by_label("Customer", exact=True).fill("smith")
    page.get_by_label("Amount", exact=True).fill("120.00")
    page.get_by_role("button", name="Record purchase").click()
    expect(page.get_by_role("button", name=re.compile(smiths[0].member_number))).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_OVERFLOW)

    page.get_by_role("button", name=re.compile(smiths[1].member_number)).click()
    expect(page.get_by_role("status").filter(has_text="Recorded $120.00")).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_OVERFLOW)
    page.get_by_role("link", name=f"Back to {smiths[1].name}").click()
    page.get_by_text("Refund…").click()
    expect(page.get_by_label("Refund amount")).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_OVERFLOW)
    assert Transaction.objects.get().customer == smiths[1]

    page.get_by_role("link", name=Transaction.objects.get().receipt_number).first.click()
    expect(page.get_by_role("button", name="Refund all $120.00…")).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_OVERFLOW)


def test_the_till_works_without_javascript(chromium_browser, live_server, transactional_db):
    """Record, choose among matches, enrol and record, refund (the refund box is a native details element):
    all of it with scripts off, the server doing every check."""
    from tests.migration_rows import restore_migration_rows

    restore_migration_rows()
    context = chromium_browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        staff = StaffFactory()
        known = CustomerFactory(name="Nora Noscript")
        CustomerFactory(name="Nora Other")
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(staff.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.get_by_label("Customer", exact=True).fill("nora")
        page.get_by_label("Amount", exact=True).fill("120.00")
        page.get_by_role("button", name="Record purchase").click()
        page.get_by_role("button", name=re.compile(known.member_number)).click()
        expect(page.get_by_role("status").filter(has_text="Recorded $120.00 for Nora Noscript")).to_be_visible()

        page.get_by_label("Customer", exact=True).fill("Nell New")
        page.get_by_label("Amount", exact=True).fill("75.00")
        page.get_by_role("button", name="Record purchase").click()
        page.get_by_role("button", name="Enrol and record $75.00").click()
        expect(page.get_by_role("status").filter(has_text="Recorded $75.00 for Nell New")).to_be_visible()

        page.get_by_role("link", name="Back to Nell New").click()
        page.get_by_text("Refund…").click()
        page.get_by_label("Refund amount").fill("80.00")  # more than the purchase
        page.get_by_role("button", name="Refund", exact=True).click()
        expect(page.get_by_text("A refund cannot exceed what is left of the purchase (75.00).")).to_be_visible()
        page.get_by_label("Refund amount").fill("75.00")
        page.get_by_role("button", name="Refund", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Refunded $75.00 of receipt")).to_be_visible()
        assert list(Transaction.objects.order_by("id").values_list("kind", "amount")) == [
            ("purchase", 120),
            ("purchase", 75),
            ("refund", 75),
        ]
    finally:
        context.close()


def test_suggestions_appear_while_typing_and_choosing_one_fills_the_member_number(page, sign_in):
    customer = CustomerFactory(name="Suggested Person")
    sign_in(StaffFactory())
    page.get_by_label("Customer", exact=True).press_sequentially("Sugg")
    option = page.locator("#customer-suggestions option")
    expect(option).to_have_count(1)
    expect(option).to_have_attribute("value", customer.member_number)
    expect(option).to_have_attribute("label", re.compile("Suggested Person"))


def test_staff_correct_a_members_phone_from_the_till(page, sign_in):
    customer = CustomerFactory(name="Cora Contact", phone="+12125550100")
    staff = StaffFactory()
    sign_in(staff)
    page.get_by_label("Customer", exact=True).fill(customer.member_number)
    page.get_by_role("button", name="Find customer").click()
    page.get_by_role("link", name="Correct contact details").click()
    expect(page.get_by_label("Phone")).to_have_value("(212) 555-0100")
    page.get_by_label("Phone").fill("abc")
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_text("this one is not a valid number")).to_be_visible()
    page.get_by_label("Phone").fill("646 555 0111")
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_text("Saved Cora Contact's contact details.")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/till/\?customer={customer.pk}$"))
    customer.refresh_from_db()
    assert customer.phone == "+16465550111"
