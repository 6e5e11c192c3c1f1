import re

from playwright.sync_api import expect

from tests.factories import ManagerFactory


def test_signed_out_visitor_lands_on_sign_in_and_a_manager_gets_in(page, sign_in):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    manager = ManagerFactory(first_name="Maria")
    sign_in(manager)
    expect(page.get_by_role("heading", name="Hello, Maria")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")).to_be_visible()
