"""A member's data: downloaded from the card as JSON; erased by a manager on request, the ledger kept."""

import json

import pytest
from django.core.management import call_command

import audit
from audit.models import AuditEvent
from customers.models import Customer
from events.models import Event, EventType
from members.models import Feedback, MailChoice, MailKind, Membership, SignInLink
from members.services.access import issue_card_key, issue_sign_in_link
from members.services.erasure import ErasureRefused, erase_member
from members.services.feedback import record_feedback
from members.services.mail import choose
from rewards.selectors import customer_balance, points_outstanding
from tests.factories import CLASSIC, CustomerFactory, at, publish, purchase, refund
from tests.members.conftest import JOIN
from tests.pages import text_of

pytestmark = pytest.mark.django_db


def test_the_download_holds_the_members_data_and_nobody_elses(client, join):
    publish(CLASSIC | {"bonuses": {"referral": 100}}, at(2020, 1, 1))
    join(news="on", phone="(212) 555-0123", birthday="1990-04-02")
    member = Customer.objects.get()
    recorded = purchase(member, "120.00", receipt="R-1")
    refund(recorded, "30.00")
    record_feedback(customer=member, purchase=recorded.transaction, score=9, comment="Great")
    friend = CustomerFactory(name="Fred Friend", referred_by=member)
    purchase(friend, "10.00", receipt="FRIEND-1")

    response = client.get("/card/my-data.json")
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="my-data-{member.member_number}.json"'
    data = json.loads(response.content)
    assert data["member"] == {
        "member_number": member.member_number, "name": "Nadia Novak", "email": "nadia@example.com",
        "phone": "+12125550123", "birthday": "1990-04-02", "joined": data["member"]["joined"], "home_store": None,
        "referred_by_a_member": False,
    }  # fmt: skip
    assert data["points"]["balance"] == customer_balance(member.pk) == 40 + 100
    assert [(t["kind"], t["amount"], t["receipt_number"]) for t in data["transactions"]] == [
        ("purchase", "120.00", "R-1"), ("refund", "30.00", data["transactions"][1]["receipt_number"]),
    ]  # fmt: skip
    assert [(line["kind"], line["points"]) for line in data["points_ledger"]] == [
        ("earn", 90), ("reversal", -50), ("bonus", 100),
    ]  # fmt: skip
    assert data["points_ledger"][0]["how"] == "120.00: 50 × 1 (50–100) + 20 × 2 (over 100) = 90"
    assert {choice["kind"] for choice in data["email_choices"]} == {
        MailKind.REWARD_AFFORDABLE, MailKind.POINTS_EXPIRING, MailKind.TIER_REACHED,
    }  # fmt: skip
    assert all(choice["wording"] for choice in data["email_choices"])
    assert data["feedback"][0] | {"answered_at": None} == {
        "score": 9, "comment": "Great", "answered_at": None, "about_receipt": "R-1",
    }  # fmt: skip
    assert [row["bonus_points"] for row in data["referrals"]] == [100]
    assert data["emails_sent"][0]["kind"] == MailKind.WELCOME
    text = response.content.decode()
    for other in ("Fred", friend.member_number, "FRIEND-1"):
        assert other not in text


def test_erasing_wipes_the_person_keeps_the_ledger_and_the_books_still_add_up(client, manager, join):
    join(news="on", phone="212 555 0123", birthday="1990-04-02")
    member = Customer.objects.get()
    key = issue_card_key(member)
    recorded = purchase(member, "120.00")
    record_feedback(customer=member, purchase=recorded.transaction, score=3, comment="Nadia here: slow service")
    issue_sign_in_link(member)
    before = (customer_balance(member.pk), points_outstanding())

    client.force_login(manager)
    page = client.get(f"/customers/{member.pk}/")
    assert "Erase this member's personal data" in text_of(page)
    response = client.post(f"/members/customers/{member.pk}/erase/", {"reason": "request by email", "confirm": "x"})
    assert Customer.objects.get().name == "Nadia Novak", "the member number must be typed to confirm"
    response = client.post(
        f"/members/customers/{member.pk}/erase/",
        {"reason": "request by email 2026-03-04", "confirm": member.member_number},
    )
    assert response.status_code == 302

    erased = Customer.objects.get()
    assert (erased.name, erased.email, erased.phone, erased.birthday, erased.member_number) == (
        "Erased member", "", "", None, f"erased-{member.pk}",
    )  # fmt: skip
    membership = Membership.objects.get(pk=member.pk)
    assert membership.erased_by == manager and membership.card_key_hash == "" and membership.referral_code is None
    assert not MailChoice.objects.exists() and not SignInLink.objects.exists()
    assert Feedback.objects.get().comment == "" and Feedback.objects.get().score == 3
    enrolled = Event.objects.get(type=EventType.CUSTOMER_ENROLLED).data["customer"]
    assert (enrolled["name"], enrolled["email"], enrolled["phone"]) == ("", "", "")
    assert "Nadia" not in json.dumps([event.data for event in Event.objects.all()])
    # The books: the same balance and liability, and the roll-up still equals the ledger.
    assert (customer_balance(member.pk), points_outstanding()) == before
    call_command("check_points_rollup")
    # Audited, naming the erased row only.
    event = AuditEvent.objects.get(event=audit.Event.MEMBER_ERASED)
    assert event.actor == manager and event.additional_data == {"reason": "request by email 2026-03-04"}
    assert "Nadia" not in event.object_repr
    # The card is gone, and erasing twice is refused.
    client.logout()
    assert client.get(f"/card/open/{key}/").status_code == 404
    with pytest.raises(ErasureRefused):
        erase_member(customer=erased, erased_by=manager, reason="again")
    # Their address can join afresh as a new member.
    client.post("/join/", JOIN)
    assert Customer.objects.count() == 1, "a new member only after confirming"


def test_only_managers_erase(staff_client):
    member = CustomerFactory()
    response = staff_client.post(
        f"/members/customers/{member.pk}/erase/", {"reason": "x", "confirm": member.member_number}
    )
    assert response.status_code == 403
    assert Customer.objects.get().name == member.name


def test_an_erased_members_sessions_end(client, manager):
    member = CustomerFactory(email="e@example.com")
    choose(member, {MailKind.POINTS_EARNED: True}, source=MailChoice.Source.CARD)
    client.get(f"/card/open/{issue_card_key(member)}/")
    erase_member(customer=member, erased_by=manager, reason="request")
    assert client.get("/card/")["Location"] == "/card/sign-in/"
