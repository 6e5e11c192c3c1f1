"""The member emails: points after a purchase (opt-in), a reward now affordable, points expiring, a tier reached;
switched per member by signed one-click unsubscribe links (also in List-Unsubscribe) and per merchant; never
sent twice for the same occasion."""

import datetime as dt
import json

import pytest
import time_machine
from django.core import mail, signing

from events.models import Event, EventType
from events.services import dispatch
from members.models import MailChoice, MailKind, Membership, SentMail
from members.services.mail import NEWS_KINDS, choose, unsubscribe_token
from members.services.notices import mail_points_expiring
from members.services.settings import save_member_settings
from members.tasks import members_daily
from rewards.models import Tier
from rewards.selectors import default_program
from rewards.services.expiry import set_expiry_policy
from rewards.services.redemption import redeem
from tests.factories import CustomerFactory, RewardFactory, at, purchase, refund
from tests.members.conftest import links_in
from tests.pages import text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(db):
    """A member who joined online with a confirmed address."""
    customer = CustomerFactory(name="Mo Member", email="mo@example.com")
    Membership.objects.create(customer=customer, email_confirmed_at=at(2025, 1, 1), joined_online_at=at(2025, 1, 1))
    return customer


def subscribe(customer, *kinds):
    choose(customer, dict.fromkeys(kinds, True), source=MailChoice.Source.CARD)


def mails_to(customer, subject_part: str = ""):
    return [m for m in mail.outbox if customer.email in m.to and subject_part in m.subject]


def test_points_after_a_purchase_only_for_members_who_opted_in(member):
    purchase(member, "120.00")
    assert mails_to(member) == []

    subscribe(member, MailKind.POINTS_EARNED)
    purchase(member, "120.00")
    [message] = mails_to(member)
    assert message.subject == "Rewards: you earned 90 points"
    assert (
        "You earned 90 points on your purchase of $120.00.\n  50 × 1 (50–100): 50\n  20 × 2 (over 100): 40"
        in message.body
    )
    assert "Your balance is now 180 points." in message.body
    html = message.alternatives[0][0]
    assert "<strong>90 points</strong>" in html
    # The survey link comes with it (the first purchase since no answer).
    assert links_in(message, "/feedback/")


def test_the_same_event_never_mails_twice(member):
    subscribe(member, MailKind.POINTS_EARNED)
    purchase(member, "120.00")
    event = Event.objects.get(type=EventType.PURCHASE_RECORDED)
    Event.objects.filter(pk=event.pk).update(dispatched_at=None)
    assert dispatch(event.pk)  # handed on again (a lost acknowledgement, the sweep)
    assert len(mails_to(member, "you earned")) == 1
    assert SentMail.objects.filter(kind=MailKind.POINTS_EARNED).count() == 1


def test_unsubscribe_per_kind_by_the_signed_link_leaves_the_other_kinds(client, member):
    subscribe(member, MailKind.POINTS_EARNED, *NEWS_KINDS)
    RewardFactory(name="Free coffee", points_cost=50)
    purchase(member, "120.00")
    earned = mails_to(member, "you earned")[0]
    affordable = mails_to(member, "you can now have")[0]
    assert affordable.subject == "Rewards: you can now have Free coffee"

    header = earned.extra_headers["List-Unsubscribe"]
    assert earned.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = header.strip("<>").removeprefix("http://testserver")
    assert path in earned.body, "the same link is in the text"
    assert "Stop this" not in text_of(client.get(path)) and "Unsubscribe" in text_of(client.get(path))
    assert MailChoice.objects.filter(subscribed=False).count() == 0, "opening the link only asks"

    # A mail client's one-click POST (RFC 8058): no CSRF token, no cookie.
    client.cookies.clear()
    response = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    off = MailChoice.objects.get(customer=member, subscribed=False)
    assert (off.kind, off.source) == (MailKind.POINTS_EARNED, MailChoice.Source.ONE_CLICK)

    mail.outbox.clear()
    RewardFactory(name="Free cake", points_cost=150)
    purchase(member, "120.00")
    assert mails_to(member, "you earned") == []
    assert [m.subject for m in mails_to(member)] == ["Rewards: you can now have Free coffee and 1 more"]


def test_a_forged_unsubscribe_link_changes_nothing(client, member):
    subscribe(member, MailKind.POINTS_EARNED)
    token = unsubscribe_token(member.pk, MailKind.POINTS_EARNED)
    assert client.post(f"/unsubscribe/{token[:-2]}xx/").status_code == 404
    # Another member's id in the payload, under this member's signature.
    other = CustomerFactory()
    payload = signing.b64_encode(json.dumps([other.pk, MailKind.POINTS_EARNED]).encode()).decode()
    forged = payload + ":" + token.split(":", 1)[1]
    assert forged != token
    assert client.post(f"/unsubscribe/{forged}/").status_code == 404
    assert not MailChoice.objects.filter(subscribed=False).exists()


def test_the_welcome_unsubscribe_stops_every_kind(client, member):
    subscribe(member, MailKind.POINTS_EARNED, *NEWS_KINDS)
    client.post(f"/unsubscribe/{unsubscribe_token(member.pk, 'all')}/")
    purchase(member, "120.00")
    RewardFactory(points_cost=10)
    purchase(member, "60.00")
    assert mails_to(member) == []


def test_the_merchant_switches_a_kind_off_for_everyone(member, manager):
    subscribe(member, MailKind.POINTS_EARNED)
    save_member_settings(
        join_open=True, feedback_interval_days=90, mail_off=[MailKind.POINTS_EARNED], changed_by=manager
    )
    purchase(member, "120.00")
    assert mails_to(member) == []


def test_unconfirmed_addresses_get_no_member_email(member):
    subscribe(member, MailKind.POINTS_EARNED)
    Membership.objects.filter(pk=member.pk).update(email_confirmed_at=None)
    purchase(member, "120.00")
    assert mails_to(member) == []


def test_a_reward_is_announced_once_and_again_only_after_spending(member, staff):
    subscribe(member, MailKind.REWARD_AFFORDABLE)
    reward = RewardFactory(name="Free coffee", points_cost=50)
    purchase(member, "120.00")
    purchase(member, "110.00")
    assert len(mails_to(member, "Free coffee")) == 1
    redeem(customer=member, reward=reward, redeemed_by=staff, store=purchase(member, "10.00").transaction.store)
    purchase(member, "101.00")
    assert len(mails_to(member, "Free coffee")) == 2


def test_a_tier_reached_is_mailed_on_the_way_up(member):
    subscribe(member, MailKind.TIER_REACHED)
    Tier.objects.create(program=default_program(), name="Gold", rank=1, threshold=100, multiplier="1.50")
    purchase(member, "120.00")
    assert mails_to(member) == []
    purchase(member, "60.00")  # 100 earned: Gold
    [message] = mails_to(member)
    assert message.subject == "Rewards: welcome to Gold"
    assert "multiplied by 1.5" in message.body


def test_points_expiring_in_30_days_are_mailed_once_per_lapse_date(member, manager):
    subscribe(member, MailKind.POINTS_EXPIRING)
    with time_machine.travel(at(2025, 1, 10)):
        set_expiry_policy(
            program=default_program(),
            kind="after_months",
            months=2,
            effective_month=dt.date(2025, 2, 1),
            changed_by=manager,
        )
    with time_machine.travel(at(2025, 2, 10)):
        purchase(member, "120.00")
    with time_machine.travel(at(2025, 3, 20)):
        assert mail_points_expiring() == 0, "more than 30 days ahead"
    with time_machine.travel(at(2025, 4, 5, 2)):
        assert members_daily.call_local()["expiring"] == 1
        assert members_daily.call_local()["expiring"] == 0, "the daily job twice mails once"
    [message] = mails_to(member)
    assert message.subject == "Rewards: 90 points expire on May 1"


def test_refunds_and_till_enrolments_without_an_address_mail_nobody(member):
    subscribe(member, MailKind.POINTS_EARNED)
    recorded = purchase(member, "120.00")
    mail.outbox.clear()
    refund(recorded, "30.00")
    nobody = CustomerFactory(email="")
    purchase(nobody, "120.00")
    assert mail.outbox == []
