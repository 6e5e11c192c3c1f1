"""The navigation: each role sees the pages it may use, every one of them opens, and the current page is marked."""

import re

import pytest

from loyalty_site.navigation import navigation_for

pytestmark = pytest.mark.django_db


def labels(user, path: str = "/") -> dict[str, list[str]]:
    return {section.label: [link.label for link in section.links] for section in navigation_for(user, path)}


def test_store_staff_see_the_till_and_the_customers_only(staff):
    assert labels(staff) == {"Till": ["Till"], "Customers": ["Find a customer", "Join poster"]}


def test_managers_see_every_manager_page(manager):
    sections = labels(manager)
    assert sections["Program"] == [
        "Earning rule", "What-if simulator", "Recalculate", "Rewards", "Tiers", "Policies", "Members",
    ]  # fmt: skip
    assert sections["Reports"] == ["At a glance", "Monthly points", "Feedback"]
    assert sections["Customers"] == ["Find a customer", "Customer list", "Adjustments to approve", "Join poster"]


def test_owners_see_the_people_pages_and_the_admin(owner):
    sections = labels(owner)
    assert sections["People"] == ["Staff accounts", "Audit log"]
    assert sections["Admin"] == ["Admin"]


@pytest.mark.parametrize("role", ["staff", "manager", "owner"])
def test_every_link_a_role_is_shown_opens_for_it(role, request, client):
    user = request.getfixturevalue(role)
    client.force_login(user)
    for section in navigation_for(user, "/"):
        for link in section.links:
            response = client.get(link.url)
            assert response.status_code == 200, (role, link.url, response.status_code)


def test_the_current_section_and_page_are_marked(manager_client):
    response = manager_client.get("/program/tiers/")
    html = response.content.decode()
    assert re.search(r'<a href="/program/"[^>]* class="current">Program</a>', html)
    assert re.search(r'<a href="/program/tiers/" aria-current="page">Tiers</a>', html)
    assert html.count('aria-current="page"') == 1


def test_a_page_reached_from_a_link_marks_that_link(manager):
    sections = {section.label: section for section in navigation_for(manager, "/reports/customers/7/")}
    assert sections["Reports"].current
    assert [link.label for link in sections["Reports"].links if link.current] == ["Monthly points"]


def test_signed_out_visitors_get_no_navigation(client):
    response = client.get("/accounts/login/")
    assert 'class="sub-nav"' not in response.content.decode()
    assert '<nav aria-label="Main">' not in response.content.decode()
