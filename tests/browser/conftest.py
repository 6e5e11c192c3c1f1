"""Browser tests: Playwright (the Python package) driving Debian's chromium against pytest-django's live server.

`make test` skips them with a message where chromium is not installed; `.ci/run` installs chromium and
sets REQUIRE_BROWSER=1, which turns a missing browser into a failure instead of a skip.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.migration_rows import restore_migration_rows

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
# axe-core, pinned in package.json and package-lock.json at the top of the project; `make test` installs it
# with `npm ci`.
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# What the accessibility check holds every page to: WCAG 2.0 and 2.1, levels A and AA (labels, contrast,
# names of buttons and links, structure, ARIA used correctly).
AXE_STANDARDS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
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


@pytest.fixture
def page(chromium_browser, live_server, transactional_db):
    # Each browser test empties the database when it ends: the next one needs the roles, store and rule back.
    restore_migration_rows()
    context = chromium_browser.new_context(base_url=live_server.url, viewport={"width": 1024, "height": 768})
    context.set_default_timeout(10_000)
    page = context.new_page()
    # Every browser test also proves its pages work under the Content-Security-Policy: Chromium reports
    # each refused script, style or frame on the console.
    violations = page.csp_violations = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    yield page
    context.close()
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)


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


@pytest.fixture
def tables_scrolling():
    """`tables_scrolling(page)`: the ids of the page's tables that scroll sideways inside their box (a
    .table-container or .table-scroll), wider than the box. The page itself can fit its width while a table
    in it hides its last columns behind a scroll bar: comparing the page's widths does not see that."""

    def check(page) -> list[str]:
        return page.evaluate(
            "() => [...document.querySelectorAll('main .table-container, main .table-scroll')]"
            ".filter(box => box.scrollWidth > box.clientWidth)"
            ".map(box => box.querySelector('table').id || box.querySelector('table').className)"
        )

    return check


def _browser_tool_missing(message: str):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (required by REQUIRE_BROWSER=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        _browser_tool_missing(f"axe-core is not installed at {AXE}: run `make test` (npm ci) first")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def axe_violations(axe_source):
    """`axe_violations(page)`: the accessibility problems axe-core finds on the page as it is now, as a list
    of readable lines ("color-contrast (serious): Elements must meet minimum color contrast ratio
    thresholds: #main > p"); empty when there are none. Assert `axe_violations(page) == []`.

    axe-core is injected with `page.evaluate`, which the page's Content-Security-Policy does not govern (a
    script tag would be refused). `exclude` takes CSS selectors left out of the check; `rules` turns single
    rules off ({"region": {"enabled": False}}) where a page has a reason that is written beside the call.
    """

    def check(page, *, exclude: list[str] | None = None, rules: dict | None = None) -> list[str]:
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(axe_source)
        options = {
            "runOnly": {"type": "tag", "values": AXE_STANDARDS},
            "rules": rules or {},
            "resultTypes": ["violations"],
        }
        context = {"exclude": [[selector] for selector in exclude]} if exclude else "document"
        run = "async ([context, options]) => (await axe.run(context === 'document' ? document : context, options))"
        result = page.evaluate(run + ".violations", [context, options])
        return [
            f"{violation['id']} ({violation['impact']}): {violation['help']}: "
            + ", ".join(json.dumps(node["target"]) for node in violation["nodes"][:5])
            for violation in result
        ]

    return check
