"""The program's policies page: managers with the 'manage program' permission change them."""

import pytest

from rewards.models import Program
from rewards.selectors import default_program

pytestmark = pytest.mark.django_db


def test_a_manager_sets_the_negative_balance_policy_and_the_approval_threshold(manager_client):
    response = manager_client.post(
        "/program/policies/", {"negative_balance_policy": "allow", "adjustment_approval_threshold": "250"}
    )
    assert response.status_code == 302
    program = default_program()
    assert program.negative_balance_policy == Program.NegativeBalance.ALLOW
    assert program.adjustment_approval_threshold == 250


def test_the_policies_page_is_for_managers(staff_client):
    assert staff_client.get("/program/policies/").status_code == 403
    assert staff_client.post("/program/policies/", {"negative_balance_policy": "allow"}).status_code == 403
    assert default_program().negative_balance_policy == Program.NegativeBalance.TAKE_WHAT_REMAINS
