"""In the browser: the lockout message on the sign-in page, two-factor enrolment and sign-in with a code,
a manager creating and deactivating a store staff account, an owner reading the audit log, the password
reset pages; all under the Content-Security-Policy (tests/browser/conftest.py fails on any violation)."""

import re

from django.core import mail
from playwright.sync_api import expect

from tests.accounts.test_two_factor import totp
from tests.factories import ManagerFactory, OwnerFactory, StaffFactory

WRONG = "not the password"


def fill_sign_in(page, username, password):
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_the_sign_in_page_says_when_signing_in_is_locked(page, settings):
    staff = StaffFactory()
    page.goto("/accounts/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        fill_sign_in(page, staff.username, WRONG)
    expect(page.locator("#lockout")).to_contain_text("Signing in is locked for this username or from this address.")
    expect(page.locator("#lockout")).to_contain_text("Try again in 15 minutes")
    fill_sign_in(page, staff.username, "correct horse battery staple")
    expect(page.locator("#lockout")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))


def test_a_manager_turns_two_factor_on_and_then_signs_in_with_a_code(page, sign_in):
    manager = ManagerFactory(first_name="Mona")
    sign_in(manager)
    page.get_by_role("link", name="Two-factor").click()
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(totp(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_text("Two-factor sign-in is on")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    sign_in(manager)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Code from your authenticator app").fill(totp(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hello, Mona")).to_be_visible()


def test_a_manager_creates_a_store_staff_account_and_deactivates_it(page, sign_in):
    sign_in(ManagerFactory())
    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    expect(page.get_by_role("navigation", name="People").get_by_role("link", name="Staff accounts")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("heading", name="Store staff", exact=True)).to_be_visible()
    expect(page.get_by_label("Role")).to_have_count(0)
    page.get_by_label("Username").fill("sam.new")
    page.get_by_label("First name").fill("Sam")
    page.get_by_label("Password", exact=True).fill("a quite new pass phrase 42")
    page.get_by_label("Password again").fill("a quite new pass phrase 42")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Account sam.new created (Store staff).")).to_be_visible()
    page.get_by_role("link", name="sam.new").click()
    page.get_by_role("button", name="Deactivate sam.new").click()
    expect(page.get_by_text("sam.new can no longer sign in.")).to_be_visible()
    expect(page.get_by_role("button", name="Reactivate sam.new")).to_be_visible()


def test_an_owner_reads_and_filters_the_audit_log(page, sign_in):
    owner = OwnerFactory()
    staff = StaffFactory()
    page.goto("/accounts/login/")
    fill_sign_in(page, staff.username, WRONG)
    sign_in(owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    page.get_by_role("navigation", name="People").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.get_by_label("Event").select_option("sign_in_failed")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("#audit-log tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(staff.username)
    expect(rows.first).to_contain_text("Failed sign-in")


def test_password_reset_pages_from_sign_in_to_a_new_password(page):
    staff = StaffFactory(email="sam@example.com")
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("sam@example.com")
    page.get_by_role("button", name="Email me a reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = re.search(r"http://[^/]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("a brand new pass phrase 77")
    page.get_by_label("New password confirmation").fill("a brand new pass phrase 77")
    page.get_by_role("button", name="Set my new password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    fill_sign_in(page, staff.username, "a brand new pass phrase 77")
    expect(page).to_have_url(re.compile(r"/till/$"))


def test_the_policy_refuses_an_inline_script_and_chromium_reports_it(page, sign_in):
    sign_in(StaffFactory())
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"/none\" onerror=\"document.title=1\">')")
    page.wait_for_timeout(300)
    assert page.title() != "1"
    assert any("inline event handler" in text for text in page.csp_violations)
    page.csp_violations.clear()


def test_owner_pages_and_the_admin_work_under_the_policy(page, sign_in):
    sign_in(OwnerFactory())
    for url in (
        "/",
        "/staff/",
        "/audit/",
        "/accounts/two-factor/",
        "/reports/",
        "/program/",
        "/till/",
        "/admin/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        "/admin/transactions/transaction/add/",
    ):
        response = page.goto(url)
        assert response.status == 200, url
