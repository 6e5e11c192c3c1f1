"""In the browser: a manager creates an API key on its page (shown once), the shop's system records a purchase
with it, the manager sees its last use and revokes it; the API reference (Swagger UI, from our own static files)
runs under the Content-Security-Policy (tests/browser/conftest.py fails on any violation)."""

import re

from playwright.sync_api import expect

from tests.api.conftest import ApiClient
from tests.factories import CustomerFactory, ManagerFactory


def test_a_manager_creates_a_key_sees_it_once_uses_it_and_revokes_it(page, sign_in):
    CustomerFactory(member_number="M100", name="Ann Example")
    sign_in(ManagerFactory())
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
    page.get_by_role("navigation", name="Integrations").get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()

    page.get_by_label("Name").fill("Web shop")
    page.get_by_label("Rights").select_option("manager")
    page.get_by_role("button", name="Create key").click()

    expect(page.get_by_role("status")).to_contain_text("Copy it now: it is shown only this once.")
    secret = page.get_by_label("Key", exact=True).input_value()
    assert re.fullmatch(r"lk_[a-z0-9]{10}_[\w-]{43}", secret)

    api = ApiClient(secret)
    assert api.post("purchases", {"customer": "M100", "amount": "120.00"}).json()["points"] == 90

    page.goto("/api-keys/")
    row = page.get_by_role("row", name=re.compile("Web shop"))
    expect(row).not_to_contain_text("never")
    expect(page.locator("body")).not_to_contain_text(secret)
    row.get_by_role("button", name="Revoke Web shop").click()
    expect(page.get_by_text("is revoked: calls with it now get 401.")).to_be_visible()
    assert api.get("customers/M100").status_code == 401


def test_the_api_reference_shows_every_resource_under_the_content_security_policy(page, sign_in):
    sign_in(ManagerFactory())
    page.goto("/api/v1/docs/")
    expect(page.get_by_text("Loyalty API")).to_be_visible()
    for summary in ("Record a purchase", "Refund all or part of a purchase", "Monthly points per customer"):
        expect(page.get_by_text(summary, exact=True)).to_be_visible()
