"""The members' side in a real browser, at a phone's width: joining, confirming by the emailed link, the card
and its QR code, the till finding the member by the scanned number, and every member page fitting 360 px
without sideways scroll and passing the accessibility check."""

import re

import pytest
import segno
from django.core import mail
from playwright.sync_api import expect

from customers.models import Customer
from members.models import MailChoice, MailKind
from members.services.access import issue_card_key
from members.services.mail import choose, unsubscribe_token
from tests.factories import CustomerFactory, ManagerFactory, RewardFactory, StaffFactory, purchase

from .conftest import PASSWORD

PHONE = {"width": 360, "height": 780}
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"



@pytest.fixture
def phone(page, live_server, settings, axe_violations):
    """The test's page at a phone's width, with member emails linking to the live server."""
    settings.LOYALTY_SITE_URL = live_server.url
    page.set_viewport_size(PHONE)
    page.axe_violations = axe_violations
    return page


def mailed_path(address: str, prefix: str) -> str:
    message = [m for m in mail.outbox if address in m.to][-1]
    return re.search(rf"https?://[^/\s]+({re.escape(prefix)}[^\s]+)", message.body).group(1)


def check_phone_page(page) -> None:
    assert page.evaluate(FITS), f"{page.url} scrolls sideways at 360 px"
    assert page.axe_violations(page) == [], page.url


def test_join_confirm_see_the_card_then_staff_record_120_by_the_member_number_and_the_card_shows_90(
    phone, chromium_browser, live_server
):
    page = phone
    page.goto("/join/")
    check_phone_page(page)
    page.get_by_label("Your name").fill("Nadia Novak")
    page.get_by_label("Email", exact=True).fill("nadia@example.com")
    page.get_by_label("Email me about my points").check()
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    check_phone_page(page)
    assert not Customer.objects.exists()

    page.goto(mailed_path("nadia@example.com", "/join/confirm/"))
    check_phone_page(page)
    page.get_by_role("button", name="Confirm and open my card").click()
    expect(page.get_by_text("Welcome! Your email is confirmed and your card is ready.")).to_be_visible()
    expect(page.locator("[data-balance]")).to_have_text("0")
    member = Customer.objects.get()
    qr = page.locator(".m-qr svg")
    expect(qr).to_be_visible()
    expect(page.locator(".m-member-number")).to_have_text(f"Member number {member.member_number}")
    # The QR code is the member number, drawn on the server.
    drawn = segno.make(member.member_number, error="m").svg_inline(scale=6, border=4, omitsize=True)
    path = re.search(r' d="([^"]+)"', drawn).group(1)
    assert qr.locator("path").get_attribute("d") == path
    check_phone_page(page)

    # At the till: a scanner types the member number and presses Enter; then the amount.
    till = chromium_browser.new_context(base_url=live_server.url, viewport={"width": 820, "height": 1180})
    staff_page = till.new_page()
    staff = StaffFactory()
    staff_page.goto("/accounts/login/")
    staff_page.get_by_label("Username").fill(staff.username)
    staff_page.get_by_label("Password").fill(PASSWORD)
    staff_page.get_by_role("button", name="Sign in").click()
    customer_field = staff_page.get_by_label("Customer", exact=True)
    expect(customer_field).to_be_focused()
    staff_page.keyboard.type(member.member_number)
    staff_page.keyboard.press("Enter")
    expect(staff_page.locator("#balance")).to_have_text("0 points")
    staff_page.get_by_label("Customer", exact=True).fill(member.member_number)
    staff_page.get_by_label("Amount", exact=True).fill("120.00")
    staff_page.get_by_role("button", name="Record purchase").click()
    expect(staff_page.get_by_role("status").filter(has_text="Recorded $120.00 for Nadia Novak")).to_be_visible()
    till.close()

    page.reload()
    expect(page.locator("[data-balance]")).to_have_text("90")
    activity = page.get_by_role("region", name="Recent activity")
    expect(activity).to_contain_text("Purchase $120.00 at Main store")
    expect(activity).to_contain_text("+90")
    expect(activity).to_contain_text("120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90")
    check_phone_page(page)


def test_every_member_page_fits_a_phone_and_passes_the_accessibility_check(phone, live_server):
    page = phone
    member = CustomerFactory(name="Petra Phone-Userwithaverylongname", email="petra.with.a.long.address@example.com")
    RewardFactory(name="Free coffee", points_cost=50)
    RewardFactory(name="A slice of cake with a long name", points_cost=500)
    purchase(member, "120.00")
    CustomerFactory(referred_by=member)
    choose(member, {MailKind.POINTS_EARNED: True}, source=MailChoice.Source.CARD)

    for path in ("/card/sign-in/", "/card/open/not-a-key/", "/join/?ref=ABCDEFGH"):
        page.goto(path)
        check_phone_page(page)
    page.get_by_role("link", name="Have a card? Sign in").click()
    page.get_by_label("Email", exact=True).fill(member.email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    check_phone_page(page)
    page.goto(mailed_path(member.email, "/card/sign-in/"))
    check_phone_page(page)
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("[data-balance]")).to_have_text("90")
    check_phone_page(page)
    page.get_by_role("link", name="Email settings").click()
    check_phone_page(page)
    page.get_by_label("Email me when I reach a new tier.").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your email settings are saved.")).to_be_visible()

    page.goto("/card/")
    page.get_by_role("link", name="How was your last visit?").click()
    check_phone_page(page)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Choose a score from 0")).to_be_visible()
    check_phone_page(page)
    page.get_by_role("radio", name="9", exact=True).check()
    page.keyboard.press("ArrowRight")  # the radio group works by keyboard too: 10
    page.get_by_label("Anything you would like to tell us?").fill("Quick and friendly.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    check_phone_page(page)
    assert member.feedback.get().score == 10

    page.goto(f"/unsubscribe/{unsubscribe_token(member.pk, MailKind.POINTS_EARNED)}/")
    check_phone_page(page)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    check_phone_page(page)

    # The card link of another phone, and signing out.
    page.goto(f"/card/open/{issue_card_key(member)}/")
    expect(page.locator("[data-balance]")).to_have_text("90")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Open your card")).to_be_visible()


def test_the_card_can_be_added_to_a_home_screen(phone):
    page = phone
    page.goto("/card/sign-in/")
    manifest_url = page.locator("link[rel=manifest]").get_attribute("href")
    response = page.request.get(manifest_url)
    assert response.ok
    manifest = response.json()
    assert manifest["start_url"] == "/card/" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        icon_url = manifest_url.rsplit("/", 1)[0] + "/" + icon["src"]
        assert page.request.get(icon_url).ok, icon_url
    assert page.request.get(page.locator("link[rel=apple-touch-icon]").get_attribute("href")).ok


def test_the_staff_pages_of_the_members_side_pass_the_accessibility_check(page, sign_in, axe_violations):
    member = CustomerFactory(email="m@example.com")
    issue_card_key(member)
    sign_in(ManagerFactory())
    for path in ("/members/poster/", "/program/members/", "/reports/feedback/", f"/customers/{member.pk}/"):
        page.goto(path)
        assert page.evaluate(FITS), path
        assert axe_violations(page) == [], path
