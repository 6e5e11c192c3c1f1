"""The sensitive actions of the books are in the audit trail, whichever path calls their service: refunds,
rule publishing, adjustments requested, approved and rejected, redemptions undone; sign-in and sign-out."""

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from rewards import engine
from rewards.selectors import default_program
from rewards.services.adjustments import decide_adjustment, request_adjustment
from rewards.services.program import publish_rule_version
from rewards.services.redemption import redeem, undo_redemption
from tests.factories import CustomerFactory, ManagerFactory, RewardFactory, default_store, purchase, refund

pytestmark = pytest.mark.django_db


def one(event: str) -> AuditEvent:
    return AuditEvent.objects.get(event=event)


def test_a_refund_is_recorded_with_who_what_and_the_points(staff):
    recorded = purchase(CustomerFactory(), "120.00", receipt="R-120")
    refunded = refund(recorded, "30.00", recorded_by=staff)
    event = one("refund")
    assert (event.actor, event.object_pk) == (staff, str(refunded.transaction.pk))
    assert event.additional_data == {"purchase": "R-120", "amount": "30.00", "points": -50, "source": "till"}


def test_a_refund_made_at_the_till_page_carries_the_address(staff_client, staff):
    recorded = purchase(CustomerFactory(), "120.00")
    staff_client.post(
        f"/transactions/{recorded.transaction.pk}/refund/",
        {"amount": "10.00", "idempotency_key": "0b0b0b0b-0000-4000-8000-000000000001"},
        REMOTE_ADDR="192.0.2.44",
    )
    assert (one("refund").actor, one("refund").remote_addr) == (staff, "192.0.2.44")


def test_publishing_a_rule_version_is_recorded(manager):
    version = publish_rule_version(
        program=default_program(),
        rule=engine.CLASSIC_RULE,
        effective_from=timezone.now() + timezone.timedelta(days=1),
        published_by=manager,
        note="same again",
    )
    event = one("rule_published")
    assert (event.actor, event.object_pk) == (manager, str(version.pk))
    assert event.additional_data["rule"] == version.rule and event.additional_data["note"] == "same again"


def test_adjustments_requested_approved_and_rejected_are_recorded(manager):
    customer = CustomerFactory()
    second = ManagerFactory()
    approved = request_adjustment(customer=customer, points=900, reason="lost card", requested_by=manager)
    rejected = request_adjustment(customer=customer, points=800, reason="goodwill", requested_by=manager)
    decide_adjustment(request=approved, decided_by=second, approve=True)
    decide_adjustment(request=rejected, decided_by=second, approve=False)

    requested = AuditEvent.objects.filter(event="adjustment_requested").order_by("id")
    assert [(e.actor, e.additional_data["points"], e.additional_data["status"]) for e in requested] == [
        (manager, 900, "pending"),
        (manager, 800, "pending"),
    ]
    assert (one("adjustment_approved").actor, one("adjustment_approved").additional_data["request"]) == (
        second,
        approved.pk,
    )
    assert (one("adjustment_rejected").actor, one("adjustment_rejected").additional_data["requested_by"]) == (
        second,
        manager.username,
    )


def test_an_undone_redemption_is_recorded(staff):
    customer = CustomerFactory()
    purchase(customer, "300.00")
    redemption = redeem(
        customer=customer, reward=RewardFactory(name="Free coffee"), store=default_store(), redeemed_by=staff
    )
    undo_redemption(redemption=redemption, undone_by=staff)
    event = one("redemption_undone")
    assert event.actor == staff and event.object_pk == str(customer.pk)
    assert (event.additional_data["reward"], event.additional_data["points"]) == ("Free coffee", 50)


def test_signing_in_and_out_are_recorded_with_the_address(client, staff):
    client.post(
        "/accounts/login/",
        {"username": staff.username, "password": "correct horse battery staple"},
        REMOTE_ADDR="198.51.100.3",
    )
    client.post("/accounts/logout/", REMOTE_ADDR="198.51.100.3")
    assert [
        (e.event, e.actor, e.remote_addr) for e in AuditEvent.objects.order_by("id").filter(event__startswith="sign")
    ] == [
        ("sign_in", staff, "198.51.100.3"),
        ("sign_out", staff, "198.51.100.3"),
    ]
