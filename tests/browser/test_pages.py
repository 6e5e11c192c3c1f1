"""Every page a role can reach from the navigation: it answers 200, fits a tablet (820 px) without scrolling
sideways, and passes axe-core's WCAG 2.1 A/AA checks (labels, contrast, names, structure)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from loyalty_site.navigation import navigation_for
from rewards import engine
from rewards.models import Tier
from rewards.selectors import default_program
from rewards.services.adjustments import request_adjustment
from rewards.services.program import save_draft
from tests.factories import (
    CLASSIC,
    CustomerFactory,
    ManagerFactory,
    OwnerFactory,
    RewardFactory,
    StaffFactory,
    publish,
    purchase,
    refund,
)

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
TABLET = {"width": 820, "height": 1180}


def shop():
    """A little of everything, so the pages show rows, charts and forms rather than empty states."""
    today = timezone.localdate()
    publish(
        CLASSIC
        | {
            "promotions": [
                {"name": "Double points", "multiplier": "2", "starts": f"{today:%Y}-01-01", "ends": f"{today:%Y}-12-31"}
            ]
        },
        timezone.now() - dt.timedelta(days=400),
    )
    Tier.objects.create(program=default_program(), name="Silver", rank=1, threshold=300, multiplier=Decimal("1.25"))
    RewardFactory(name="Free coffee", points_cost=50)
    customers = [CustomerFactory(name=f"Member Number-{n} With-A-Long-Name") for n in range(4)]
    for index, customer in enumerate(customers):
        for months_ago in range(3):
            moment = timezone.now() - dt.timedelta(days=30 * months_ago + index + 1)
            bought = purchase(customer, f"{60 + 30 * index}.50", when=moment)
        refund(bought, "10.00", when=bought.transaction.occurred_at + dt.timedelta(hours=1))
    save_draft(
        program=default_program(),
        rule=engine.Rule.from_dict(CLASSIC | {"bonuses": {"enrolment": 10}}),
        author=ManagerFactory(),
    )
    return customers


def visit_every_link(page, user, axe_violations, also: list[str] = ()) -> list[str]:
    links = [link.url for section in navigation_for(user, "/") for link in section.links] + list(also)
    problems = []
    for url in links:
        response = page.goto(url)
        assert response.status == 200, (url, response.status)
        if not page.evaluate(NO_SIDEWAYS_SCROLL):
            problems.append(f"{url} scrolls sideways at 820 px")
        if not url.startswith("/admin/"):  # Django's own admin is not ours to restyle
            problems += [f"{url}: {violation}" for violation in axe_violations(page)]
    return problems


@pytest.mark.parametrize("role", ["staff", "manager", "owner"])
def test_every_page_of_the_navigation_answers_fits_a_tablet_and_passes_axe(page, sign_in, axe_violations, role):
    customers = shop()
    user = {"staff": StaffFactory, "manager": ManagerFactory, "owner": OwnerFactory}[role]()
    if role != "staff":
        request_adjustment(customer=customers[0], points=900, reason="Lost card", requested_by=ManagerFactory())
    page.set_viewport_size(TABLET)
    sign_in(user)
    customer = customers[-1]
    transaction = customer.transactions.filter(kind="purchase").first()
    also = [
        f"/till/?customer={customer.pk}",
        f"/till/?recorded={transaction.pk}",
        f"/transactions/{transaction.pk}/",
        f"/customers/{customer.pk}/",
        f"/customers/{customer.pk}/contact/",
        f"/customers/?q={customer.name[:6]}",
    ]
    if role != "staff":
        also += [f"/reports/customers/{customer.pk}/", "/program/simulate/?start=" + f"{timezone.localdate():%Y-%m}"]
    problems = visit_every_link(page, user, axe_violations, also)
    assert problems == [], "\n".join(problems)


def test_the_keyboard_focus_is_always_visible(page, sign_in):
    """Tab through the till: every focused control draws an outline (the focus ring is never removed)."""
    sign_in(StaffFactory())
    checked = 0
    for _ in range(12):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "() => { const e = document.activeElement; if (e === document.body) return null;"
            " const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth]; }"
        )
        if outline is None:  # past the last control: the browser's own toolbar would be next
            continue
        checked += 1
        assert outline[0] != "none" and outline[1] != "0px", page.evaluate("document.activeElement.outerHTML")
    assert checked >= 6  # the skip link, the menu, sign out, the form's fields and buttons
    expect(page.get_by_label("Customer", exact=True)).to_be_visible()
