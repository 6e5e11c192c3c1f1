"""Browser tests: Playwright (the Python package) driving Debian's chromium against pytest-django's live server.

`make test` skips them with a message where chromium is not installed; `.ci/run` installs chromium and
sets REQUIRE_BROWSER=1, which turns a missing browser into a failure instead of a skip.
"""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"  # the factories' password

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make there are
# ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_browser():
    if not os.path.exists(CHROMIUM):
        message = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium): browser test skipped"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message.replace("skipped", "required by REQUIRE_BROWSER=1"))
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def migrated_rows(django_db_setup, django_db_blocker) -> str:
    """What the data migrations made (the roles, the default program and store), captured once."""
    from django.contrib.auth.models import Group
    from django.core import serializers

    from rewards.models import Program, RuleVersion
    from transactions.models import Store

    with django_db_blocker.unblock():
        rows = [*Group.objects.all(), *Store.objects.all(), *Program.objects.all(), *RuleVersion.objects.all()]
        # Permissions by natural key: the flush recreates them, perhaps under other ids.
        return serializers.serialize("json", rows, use_natural_foreign_keys=True)


@pytest.fixture
def migrated_data(migrated_rows, transactional_db):
    """A browser test commits for real (the live server reads in another thread), so the database is
    flushed after it; the flush recreates content types and permissions but not what the data
    migrations made, so the next browser test puts that back."""
    from django.contrib.auth.models import Group
    from django.core import serializers

    if not Group.objects.exists():
        for row in serializers.deserialize("json", migrated_rows):
            row.save()


@pytest.fixture
def page(chromium_browser, live_server, transactional_db, migrated_data):
    context = chromium_browser.new_context(base_url=live_server.url, viewport={"width": 1024, "height": 768})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def sign_in(page):
    """Sign in through the real sign-in form."""

    def _sign_in(user, password: str = PASSWORD):
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    return _sign_in
