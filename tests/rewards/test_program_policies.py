"""The program's policies page: managers with the 'manage program' permission change them."""

import pytest

from rewards.models import Program
from rewards.selectors import default_program

pytestmark = pytest.mark.django_db


def test_a_manager_sets_the_negative_balance_policy_the_approval_threshold_and_the_tier_settings(manager_client):
    response = manager_client.post(
        "/program/policies/",
        {
            "negative_balance_policy": "allow",
            "adjustment_approval_threshold": "250",
            "tier_window": "calendar_year",
            "tier_downgrade": "never",
        },
    )
    assert response.status_code == 302
    program = default_program()
    assert program.negative_balance_policy == Program.NegativeBalance.ALLOW
    assert program.adjustment_approval_threshold == 250
    assert (program.tier_window, program.tier_downgrade) == ("calendar_year", "never")


def test_the_policies_page_is_for_managers(staff_client):
    assert staff_client.get("/program/policies/").status_code == 403
    assert staff_client.post("/program/policies/", {"negative_balance_policy": "allow"}).status_code == 403
    assert default_program().negative_balance_policy == Program.NegativeBalance.TAKE_WHAT_REMAINS


def test_a_manager_schedules_an_expiry_rule_from_next_month_and_not_before(manager_client):
    from rewards.calendar import add_months
    from rewards.local_time import current_month
    from rewards.models import ExpiryPolicy

    refused = manager_client.post(
        "/program/policies/",
        {"form": "expiry", "kind": "after_months", "months": "12", "effective_month": current_month().isoformat()},
    )
    assert refused.status_code == 400
    assert "next month at the earliest" in refused.content.decode()
    next_month = add_months(current_month(), 1)
    response = manager_client.post(
        "/program/policies/",
        {"form": "expiry", "kind": "after_months", "months": "12", "effective_month": next_month.isoformat()},
    )
    assert response.status_code == 302
    policy = ExpiryPolicy.objects.get()
    assert (policy.kind, policy.months, policy.effective_month) == ("after_months", 12, next_month)
    assert "points expire 12 months after the month they were earned" in manager_client.get(
        "/program/policies/"
    ).content.decode()
