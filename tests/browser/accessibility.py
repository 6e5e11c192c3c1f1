"""The accessibility check of the browser tests: axe-core (WCAG 2.1 A and AA rules) run in the page.

`axe_violations(page)` lists what axe finds, one line per rule broken with the elements that break it; a page
passes with `[]`. (Issue 12 brings a shared `axe_violations(page)` fixture to tests/browser/conftest.py; this
helper has the same call, so switching is a change of import.)
"""

from axe_playwright_python.sync_playwright import Axe

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
_axe = Axe()


def axe_violations(page) -> list[str]:
    response = _axe.run(page, options=WCAG_AA).response
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in response["violations"]
    ]
