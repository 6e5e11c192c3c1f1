"""Joining at /join/: the form, the confirmation link, consent recorded, a known address kept secret, referrals."""

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from customers.models import Customer
from members.models import JoinRequest, MailChoice, MailKind, Membership
from members.services.access import issue_card_key
from members.services.mail import NEWS_WORDING
from members.services.settings import save_member_settings
from rewards.models import PointsEntry
from tests.factories import CLASSIC, CustomerFactory, at, publish, purchase
from tests.members.conftest import JOIN, last_mail_to, links_in
from tests.pages import text_of

pytestmark = pytest.mark.django_db


def test_joining_enrols_only_once_the_emailed_link_is_confirmed_and_opens_the_card(client):
    response = client.get("/join/")
    assert response.status_code == 200
    assert "Join Rewards" in text_of(response)

    response = client.post("/join/", {**JOIN, "phone": "(212) 555-0123", "birthday": "1990-04-02"})
    assert response.status_code == 302 and response["Location"] == "/join/sent/"
    assert not Customer.objects.exists(), "nobody is a member before the address is confirmed"

    confirmation = last_mail_to("nadia@example.com")
    assert confirmation.subject == "Rewards: confirm your email to get your card"
    [link] = links_in(confirmation, "/join/confirm/")
    # Opening the link only asks: a mail scanner following it confirms nothing.
    assert "Confirm and open my card" in text_of(client.get(link))
    assert not Customer.objects.exists()

    response = client.post(link)
    assert response.status_code == 302 and response["Location"] == "/card/"
    member = Customer.objects.get()
    assert (member.name, member.email, member.phone, str(member.birthday)) == (
        "Nadia Novak", "nadia@example.com", "+12125550123", "1990-04-02",
    )  # fmt: skip
    membership = Membership.objects.get(customer=member)
    assert membership.email_confirmed_at is not None and membership.joined_online_at is not None
    assert not JoinRequest.objects.exists(), "the join request's personal data goes once confirmed"

    card = client.get("/card/")
    assert card.status_code == 200
    assert "0 points" in text_of(card)
    assert member.member_number in text_of(card)
    assert "<svg" in card.content.decode()

    # The link works once.
    assert client.post(link).status_code == 404
    assert Customer.objects.count() == 1


def test_the_welcome_email_carries_a_private_card_link_that_opens_the_card_anywhere(client, join):
    join()
    welcome = last_mail_to("nadia@example.com")
    assert welcome.subject == "Welcome to Rewards: your card"
    [card_link] = links_in(welcome, "/card/open/")
    assert welcome.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert welcome.extra_headers["List-Unsubscribe"].startswith("<http://testserver/unsubscribe/")
    assert [alternative[1] for alternative in welcome.alternatives] == ["text/html"]

    client.cookies.clear()
    assert client.get("/card/")["Location"] == "/card/sign-in/"
    response = client.get(card_link)
    assert response.status_code == 302 and response["Location"] == "/card/"
    assert "Nadia Novak" in text_of(client.get("/card/"))


def test_consent_is_recorded_with_its_time_and_the_words_shown(client, join):
    moment = timezone.now().replace(microsecond=0)
    with time_machine.travel(moment, tick=False):
        join(news="on")
    member = Customer.objects.get()
    choices = {choice.kind: choice for choice in MailChoice.objects.filter(customer=member)}
    assert set(choices) == {MailKind.REWARD_AFFORDABLE, MailKind.POINTS_EXPIRING, MailKind.TIER_REACHED}
    for choice in choices.values():
        assert choice.subscribed and choice.wording == NEWS_WORDING and choice.at == moment
        assert choice.source == MailChoice.Source.JOIN_FORM


def test_without_consent_no_choice_is_recorded_and_points_emails_stay_off(client, join):
    join()
    assert not MailChoice.objects.exists()


def test_a_known_email_gets_the_same_page_and_its_owner_a_sign_in_link_instead(client):
    CustomerFactory(name="Already There", email="Nadia@Example.com")
    response = client.post("/join/", JOIN)
    assert response.status_code == 302 and response["Location"] == "/join/sent/"
    message = last_mail_to("nadia@example.com")
    assert message.subject == "Rewards: you are already a member"
    assert links_in(message, "/join/confirm/") == []
    [sign_in] = links_in(message, "/card/sign-in/")
    assert Customer.objects.count() == 1 and not JoinRequest.objects.exists()
    client.post(sign_in)
    assert "Already There" in text_of(client.get("/card/"))


def test_bad_input_is_refused_beside_the_field_and_nothing_is_kept(client):
    response = client.post("/join/", {**JOIN, "name": " ", "email": "not-an-email", "birthday": "2999-01-01"})
    assert response.status_code == 400
    text = text_of(response)
    assert "Enter your name." in text
    assert "Enter a valid email address." in text
    assert "Enter a birthday between 1900 and today" in text
    assert not JoinRequest.objects.exists() and mail.outbox == []


def test_the_merchant_can_switch_joining_off(client, manager):
    save_member_settings(join_open=False, feedback_interval_days=90, mail_off=[], changed_by=manager)
    assert client.get("/join/").status_code == 404
    assert "Joining online is closed" in text_of(client.get("/join/"))
    assert client.post("/join/", JOIN).status_code == 404
    assert not JoinRequest.objects.exists()


def test_an_expired_confirmation_link_is_refused(client):
    client.post("/join/", JOIN)
    [link] = links_in(last_mail_to("nadia@example.com"), "/join/confirm/")
    with time_machine.travel(timezone.now() + timezone.timedelta(hours=49)):
        assert client.post(link).status_code == 404
    assert not Customer.objects.exists()


def test_a_referral_from_the_link_to_the_referrers_bonus_on_the_first_purchase(client, join):
    publish(CLASSIC | {"bonuses": {"referral": 150}}, at(2020, 1, 1))
    referrer = CustomerFactory(name="Rita Referrer")
    # The referrer's card shows their invitation link.
    client.get(f"/card/open/{issue_card_key(referrer)}/")
    card = text_of(client.get("/card/"))
    code = Membership.objects.get(customer=referrer).referral_code
    assert f"http://testserver/join/?ref={code}" in client.get("/card/").content.decode()
    assert "Invite friends" in card
    client.cookies.clear()

    assert "A friend sent you" in text_of(client.get(f"/join/?ref={code}"))
    join(ref=code)
    friend = Customer.objects.get(email="nadia@example.com")
    assert friend.referred_by == referrer

    purchase(friend, "120.00")
    purchase(friend, "80.00")  # only the first purchase counts
    bonus = PointsEntry.objects.get(customer=referrer, kind=PointsEntry.Kind.BONUS)
    assert (bonus.points, bonus.bonus_key) == (150, f"referral:{friend.pk}")

    client.cookies.clear()
    client.get(f"/card/open/{issue_card_key(referrer)}/")
    card = text_of(client.get("/card/"))
    assert "1 friend joined · you earned 150 points" in card
    assert "Referral bonus: a friend you referred made a first purchase" in card
    assert friend.member_number not in card and "Nadia" not in card, "no other member's data on a card"


def test_an_unknown_referral_code_is_ignored(client, join):
    join(ref="NOSUCHCD")
    assert Customer.objects.get().referred_by is None


def test_a_phone_another_member_holds_is_left_off_without_saying_whose_it_is(client):
    holder = CustomerFactory(phone="+12125550123")
    response = client.post("/join/", {**JOIN, "phone": "(212) 555-0123"})
    assert response.status_code == 302 and holder.member_number not in response.content.decode()
    client.post(links_in(last_mail_to("nadia@example.com"), "/join/confirm/")[0])
    joined = Customer.objects.get(email="nadia@example.com")
    assert joined.phone == ""
    assert Customer.objects.filter(phone="+12125550123").get() == holder
