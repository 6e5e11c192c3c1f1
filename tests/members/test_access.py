"""How a member proves who they are: the card link, one-time sign-in links, the member session; and that no
member page ever shows another member's data."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.signing import Signer
from django.utils import timezone

from customers.models import Customer
from members.models import Membership, SignInLink
from members.services.access import COOKIE, issue_card_key, revoke_card_key
from tests.factories import CustomerFactory, purchase
from tests.members.conftest import last_mail_to, links_in
from tests.pages import text_of

pytestmark = pytest.mark.django_db


def ask_for_sign_in(client, email: str) -> str:
    response = client.post("/card/sign-in/", {"email": email})
    assert response.status_code == 302 and response["Location"] == "/card/sign-in/sent/"
    [link] = links_in(last_mail_to(email.lower()), "/card/sign-in/")
    return link


def test_a_sign_in_link_signs_in_once_and_only_by_a_deliberate_tap(client):
    member = CustomerFactory(name="Sara Sign", email="sara@example.com")
    link = ask_for_sign_in(client, "SARA@example.com")
    assert last_mail_to("sara@example.com").subject == "Rewards: your sign-in link"
    assert "Sign in on this device" in text_of(client.get(link)), "opening the link only asks"
    assert client.get("/card/")["Location"] == "/card/sign-in/"

    assert client.post(link)["Location"] == "/card/"
    assert "Sara Sign" in text_of(client.get("/card/"))
    # Used: it signs nobody in again, whoever holds it.
    client.cookies.clear()
    assert client.post(link).status_code == 404
    assert client.get(link).status_code == 404
    assert client.get("/card/")["Location"] == "/card/sign-in/"
    assert SignInLink.objects.get().customer == member


def test_a_sign_in_link_expires_after_its_minutes(client, settings):
    settings.LOYALTY_MEMBER_SIGN_IN_MINUTES = 15
    CustomerFactory(email="sara@example.com")
    link = ask_for_sign_in(client, "sara@example.com")
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        assert client.post(link).status_code == 404
        assert "has expired or was used already" in text_of(client.get(link))
    assert client.get("/card/")["Location"] == "/card/sign-in/"


def test_a_wrong_token_signs_nobody_in(client):
    CustomerFactory(email="sara@example.com")
    link = ask_for_sign_in(client, "sara@example.com")
    wrong = link[:-5] + ("AAAA/" if not link.endswith("AAAA/") else "BBBB/")
    assert client.post(wrong).status_code == 404
    assert client.post("/card/sign-in/x/").status_code == 404
    assert client.get("/card/")["Location"] == "/card/sign-in/"


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client):
    response = client.post("/card/sign-in/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == "/card/sign-in/sent/"
    assert mail.outbox == []


def test_signing_in_by_email_confirms_the_address(client):
    member = CustomerFactory(email="sara@example.com")
    client.post(ask_for_sign_in(client, "sara@example.com"))
    assert member.membership.email_confirmed_at is not None


def test_revoking_the_card_link_closes_it_and_signs_out_every_phone(client):
    member = CustomerFactory(name="Carl Card")
    key = issue_card_key(member)
    client.get(f"/card/open/{key}/")
    assert "Carl Card" in text_of(client.get("/card/"))

    revoke_card_key(member)
    assert client.get("/card/")["Location"] == "/card/sign-in/", "the phone is signed out"
    assert client.get(f"/card/open/{key}/").status_code == 404

    # A new link works; the old one still does not.
    new = issue_card_key(member)
    assert client.get(f"/card/open/{new}/")["Location"] == "/card/"
    assert "Carl Card" in text_of(client.get("/card/"))
    stored = Membership.objects.get(customer=member).card_key_hash
    assert stored != new and len(stored) == 64, "only a hash is stored"


def test_staff_revoke_and_reissue_the_card_link_from_the_customers_page(client, staff):
    member = CustomerFactory(name="Carl Card", email="carl@example.com")
    old = issue_card_key(member)
    client.force_login(staff)
    page = text_of(client.get(f"/customers/{member.pk}/"))
    assert "Member card" in page and "Withdraw the card link" in page

    client.post(f"/members/customers/{member.pk}/card-link/", {"action": "issue"})
    [new_link] = links_in(last_mail_to("carl@example.com"), "/card/open/")
    client.post(f"/members/customers/{member.pk}/card-link/", {"action": "revoke"})
    client.logout()
    assert client.get(f"/card/open/{old}/").status_code == 404
    assert client.get(new_link).status_code == 404


def test_a_forged_or_stale_member_cookie_opens_nothing(client):
    member = CustomerFactory()
    issue_card_key(member)
    client.cookies[COOKIE] = f"{member.pk}:1"  # unsigned
    assert client.get("/card/")["Location"] == "/card/sign-in/"
    client.cookies[COOKIE] = Signer(salt="something else").sign(f"{member.pk}:1")
    assert client.get("/card/")["Location"] == "/card/sign-in/"


def test_the_member_session_is_not_a_staff_sign_in(client):
    member = CustomerFactory()
    client.get(f"/card/open/{issue_card_key(member)}/")
    assert client.get("/till/")["Location"].startswith("/accounts/login/")
    assert client.get(f"/customers/{member.pk}/")["Location"].startswith("/accounts/login/")


def test_no_member_page_reveals_another_members_data(client):
    """Members reach only their own data: the pages take no customer id, and changing ids or tokens in the
    addresses leads nowhere."""
    mine = CustomerFactory(name="Mia Mine", email="mia@example.com", member_number="1111111111")
    theirs = CustomerFactory(name="Theo Theirs", email="theo@example.com", member_number="2222222222")
    purchase(theirs, "120.00", receipt="THEO-1")
    their_key = issue_card_key(theirs)
    client.get(f"/card/open/{issue_card_key(mine)}/")

    pages = ["/card/", "/card/emails/", "/card/my-data.json", "/card/feedback/"]
    for path in pages:
        for suffix in ("", f"?customer={theirs.pk}", f"?member_number={theirs.member_number}", f"?pk={theirs.pk}"):
            body = client.get(path + suffix).content.decode()
            for secret in ("Theo", theirs.member_number, "theo@example.com", "THEO-1"):
                assert secret not in body, f"{path}{suffix} shows {secret}"
    # Their card link with a character changed, their id where a token goes: nothing opens.
    for path in (f"/card/open/{their_key[:-1]}x/", f"/card/open/{theirs.pk}/", f"/card/sign-in/{theirs.pk}/",
                 f"/join/confirm/{theirs.pk}/", f"/feedback/{theirs.pk}/", f"/unsubscribe/{theirs.pk}/"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Theo" not in response.content.decode()
    assert "Mia Mine" in text_of(client.get("/card/"))
    assert Customer.objects.count() == 2
