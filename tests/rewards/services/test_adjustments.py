"""Manual adjustments: a reason always, a second manager above the program's threshold, never below zero."""

import pytest

from rewards.models import AdjustmentRequest, PointsEntry, Program
from rewards.selectors import customer_balance
from rewards.services.adjustments import AdjustmentRefused, decide_adjustment, request_adjustment
from tests.factories import CustomerFactory, ManagerFactory, purchase

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
