"""Manual adjustments: a reason always, a second manager above the program's threshold, never below zero."""

import pytest

from audit.models import AuditEvent
from rewards.models import AdjustmentRequest, PointsEntry, Program
from rewards.selectors import customer_balance
from rewards.services.adjustments import (
    AdjustmentRefused,
    decide_adjustment,
    deduction_warning,
    request_adjustment,
    withdraw_adjustment,
)
from rewards.services.redemption import redeem, undo_redemption
from tests.factories import CustomerFactory, ManagerFactory, RewardFactory, default_store, purchase

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    customer = CustomerFactory()
    purchase(customer, "120.00")  # 90 points
    return customer


def test_an_adjustment_within_the_threshold_posts_at_once_with_who_when_and_why(customer, manager):
    adjustment = request_adjustment(
        customer=customer, points=25, reason="goodwill: late delivery", requested_by=manager
    )

    assert adjustment.status == AdjustmentRequest.Status.POSTED
    entry = adjustment.entry
    assert (entry.kind, entry.points, entry.reason, entry.created_by) == (
        "adjustment",
        25,
        "goodwill: late delivery",
        manager,
    )
    assert entry.effective_at == adjustment.requested_at
    assert customer_balance(customer.pk) == 115


def test_an_adjustment_over_the_threshold_waits_for_a_second_manager(customer, manager):
    Program.objects.filter(is_default=True).update(adjustment_approval_threshold=100)
    adjustment = request_adjustment(customer=customer, points=150, reason="lost card migration", requested_by=manager)

    assert adjustment.status == AdjustmentRequest.Status.PENDING
    assert customer_balance(customer.pk) == 90
    with pytest.raises(AdjustmentRefused, match="Another manager"):
        decide_adjustment(request=adjustment, decided_by=manager, approve=True)

    second = ManagerFactory()
    approved = decide_adjustment(request=adjustment, decided_by=second, approve=True)

    assert approved.status == AdjustmentRequest.Status.POSTED
    assert (approved.decided_by, approved.entry.created_by) == (second, second)
    assert approved.entry.explanation == f"requested by {manager.username}, approved by {second.username}"
    assert customer_balance(customer.pk) == 240
    with pytest.raises(AdjustmentRefused, match="already decided"):
        decide_adjustment(request=approved, decided_by=ManagerFactory(), approve=True)
    assert customer_balance(customer.pk) == 240


def test_a_rejected_request_posts_nothing(customer, manager):
    Program.objects.filter(is_default=True).update(adjustment_approval_threshold=10)
    adjustment = request_adjustment(customer=customer, points=-50, reason="duplicate account", requested_by=manager)
    rejected = decide_adjustment(request=adjustment, decided_by=ManagerFactory(), approve=False)
    assert rejected.status == AdjustmentRequest.Status.REJECTED and rejected.entry is None
    assert not PointsEntry.objects.filter(kind="adjustment").exists()


def test_an_adjustment_needs_a_reason_and_may_not_take_the_balance_below_zero(customer, manager):
    with pytest.raises(AdjustmentRefused, match="needs a reason"):
        request_adjustment(customer=customer, points=5, reason="  ", requested_by=manager)
    with pytest.raises(AdjustmentRefused, match="below zero"):
        request_adjustment(customer=customer, points=-91, reason="fraud", requested_by=manager)
    request_adjustment(customer=customer, points=-90, reason="fraud", requested_by=manager)
    assert customer_balance(customer.pk) == 0
    assert AdjustmentRequest.objects.count() == 1


def test_the_database_refuses_a_request_decided_by_its_requester(customer, manager, refused_by):
    adjustment = AdjustmentRequest.objects.create(customer=customer, points=5, reason="x", requested_by=manager)
    with refused_by(AdjustmentRequest, "adjustmentrequest_second_manager_decides"):
        AdjustmentRequest.objects.filter(pk=adjustment.pk).update(status="rejected", decided_by=manager)


def test_the_requester_withdraws_a_pending_request_and_nobody_can_approve_it_then(customer, manager):
    Program.objects.filter(is_default=True).update(adjustment_approval_threshold=100)
    pending = request_adjustment(customer=customer, points=150, reason="lost card", requested_by=manager)
    with pytest.raises(AdjustmentRefused, match="Only the manager who asked"):
        withdraw_adjustment(request=pending, withdrawn_by=ManagerFactory())

    withdrawn = withdraw_adjustment(request=pending, withdrawn_by=manager)

    assert (withdrawn.status, withdrawn.decided_by, withdrawn.entry) == ("withdrawn", None, None)
    assert withdrawn.decided_at is not None
    with pytest.raises(AdjustmentRefused, match="already decided"):
        decide_adjustment(request=pending, decided_by=ManagerFactory(), approve=True)
    assert customer_balance(customer.pk) == 90
    assert AuditEvent.objects.filter(event="adjustment_withdrawn", actor=manager).count() == 1


def test_a_deduction_beyond_the_balance_is_warned_about_where_it_would_be_accepted(customer):
    program = Program.objects.get(is_default=True)
    # Within the threshold, without negative balances: no warning, the request itself is refused.
    assert deduction_warning(customer=customer, points=-100) is None
    assert deduction_warning(customer=customer, points=-90) is None  # exactly the balance
    # Above the threshold: it would wait for approval, and be refused then.
    assert "approval will be refused" in deduction_warning(customer=customer, points=-600)
    program.negative_balance_policy = Program.NegativeBalance.ALLOW
    program.save()
    assert deduction_warning(customer=customer, points=-100) == (
        f"Deducting 100 points is more than {customer.name}'s balance of 90: it would go to -10 "
        "(the program allows a negative balance)."
    )


def test_the_customer_page_asks_before_a_deduction_beyond_the_balance(customer, manager_client):
    Program.objects.filter(is_default=True).update(negative_balance_policy="allow")
    url = f"/customers/{customer.pk}/adjust/"
    asked = manager_client.post(url, {"points": "-100", "reason": "fraud"})
    assert "is more than" in asked.content.decode() and not AdjustmentRequest.objects.exists()
    done = manager_client.post(url, {"points": "-100", "reason": "fraud", "confirmed": "1"})
    assert done.status_code == 302
    assert customer_balance(customer.pk) == -10


def test_an_undone_redemption_reads_as_one_in_the_ledger(customer, staff):
    reward = RewardFactory(points_cost=50)
    redemption = redeem(customer=customer, reward=reward, store=default_store(), redeemed_by=staff)
    undo_redemption(redemption=redemption, undone_by=staff)
    labels = [(entry.label, entry.points) for entry in PointsEntry.objects.filter(kind="redemption").order_by("id")]
    assert labels == [("Redeemed", -50), ("Redemption undone", 50)]
