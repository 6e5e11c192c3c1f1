"""The program's policies page: managers with the 'manage program' permission change them; loosening a control
is for owners."""

import pytest

from audit.models import AuditEvent
from rewards.calendar import add_months
from rewards.controls import ControlWeakeningRefused
from rewards.local_time import current_month
from rewards.models import Program
from rewards.selectors import default_program
from rewards.services.program import save_program_policies
from tests.pages import text_of

pytestmark = pytest.mark.django_db


def test_an_owner_sets_the_negative_balance_policy_the_approval_threshold_and_the_tier_settings(owner_client):
    # Allowing a negative balance loosens a control: owners only since issue 10 (tests below).
    response = owner_client.post(
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
    assert "Points expire 12 months after the month they were earned" in manager_client.get(
        "/program/policies/"
    ).content.decode()


# --- controls that protect the books (issue 10) ------------------------------------------------------

POLICIES = {
    "negative_balance_policy": "take_what_remains",
    "adjustment_approval_threshold": "500",
    "tier_window": "rolling_12",
    "tier_downgrade": "end_of_window",
}


def test_a_manager_cannot_switch_the_second_approval_off_by_raising_the_threshold(manager_client):
    response = manager_client.post("/program/policies/", {**POLICIES, "adjustment_approval_threshold": "2147483647"})
    assert response.status_code == 400
    assert "Only an owner raises the approval threshold" in text_of(response)
    assert default_program().adjustment_approval_threshold == 500
    assert not AuditEvent.objects.filter(event="policy_changed").exists()


def test_a_manager_cannot_allow_negative_balances_through_the_service_either(manager):
    program = default_program()
    with pytest.raises(ControlWeakeningRefused) as refusal:
        save_program_policies(program=program, changed_by=manager, negative_balance_policy="allow")
    assert refusal.value.field == "negative_balance_policy"
    assert default_program().negative_balance_policy == Program.NegativeBalance.TAKE_WHAT_REMAINS


def test_a_manager_may_tighten_and_the_change_is_recorded_who_and_old_to_new(manager_client, manager):
    response = manager_client.post("/program/policies/", {**POLICIES, "adjustment_approval_threshold": "100"})
    assert response.status_code == 302
    assert default_program().adjustment_approval_threshold == 100
    event = AuditEvent.objects.get(event="policy_changed")
    assert (event.actor, event.changes) == (manager, {"adjustment_approval_threshold": [500, 100]})
    assert event.remote_addr == "127.0.0.1"


def test_an_owner_loosens_both_controls_and_the_trail_says_so(owner_client, owner):
    loosened = {**POLICIES, "adjustment_approval_threshold": "1000", "negative_balance_policy": "allow"}
    assert owner_client.post("/program/policies/", loosened).status_code == 302
    program = default_program()
    assert (program.adjustment_approval_threshold, program.negative_balance_policy) == (1000, "allow")
    event = AuditEvent.objects.get(event="policy_changed")
    assert event.actor == owner
    assert event.changes == {
        "adjustment_approval_threshold": [500, 1000],
        "negative_balance_policy": ["take_what_remains", "allow"],
    }


def test_scheduling_an_expiry_rule_is_recorded(manager_client, manager):
    next_month = add_months(current_month(), 1)
    manager_client.post(
        "/program/policies/",
        {"form": "expiry", "kind": "after_months", "months": "12", "effective_month": next_month.isoformat()},
    )
    event = AuditEvent.objects.get(event="policy_changed")
    assert event.actor == manager
    assert event.changes == {
        f"expiry from {next_month:%Y-%m}": [None, "points expire 12 months after the month they were earned"]
    }
