"""Throttling the public members' pages: per client address and per email address, counted in the database
(exactly, also under concurrent requests), apart from the staff sign-in lockout."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from members.models import JoinRequest, ThrottleWindow
from members.throttle import Limit, hit
from tests.concurrency import at_once
from tests.factories import CustomerFactory, StaffFactory
from tests.members.conftest import JOIN

pytestmark = pytest.mark.django_db


def test_the_join_page_refuses_an_address_beyond_its_attempts_with_429_and_retry_after(client, settings):
    settings.LOYALTY_MEMBER_ATTEMPTS_PER_HOUR = 3
    for number in range(3):
        assert client.post("/join/", {**JOIN, "email": f"visitor{number}@example.com"}).status_code == 302
    response = client.post("/join/", {**JOIN, "email": "visitor9@example.com"})
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert "Please try again in" in response.content.decode()
    assert JoinRequest.objects.count() == 3
    # Another address is not held up; and an hour later this one may try again.
    assert client.post("/join/", {**JOIN, "email": "x@example.com"}, REMOTE_ADDR="10.0.0.2").status_code == 302
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1, minutes=1)):
        assert client.post("/join/", {**JOIN, "email": "visitor9@example.com"}).status_code == 302


def test_one_email_address_is_sent_only_so_many_mails_an_hour(client, settings):
    settings.LOYALTY_MEMBER_MAILS_PER_HOUR = 2
    CustomerFactory(email="known@example.com")
    addresses = iter(f"10.0.1.{n}" for n in range(1, 50))
    assert client.post("/card/sign-in/", {"email": "known@example.com"}, REMOTE_ADDR=next(addresses)).status_code == 302
    assert client.post("/join/", {**JOIN, "email": "KNOWN@example.com"}, REMOTE_ADDR=next(addresses)).status_code == 302
    for path, data in (
        ("/card/sign-in/", {"email": "known@example.com"}),
        ("/join/", {**JOIN, "email": "known@example.com"}),
    ):
        assert client.post(path, data, REMOTE_ADDR=next(addresses)).status_code == 429
    assert len(mail.outbox) == 2
    # The same holds for an address that is nobody's: a refusal says nothing about who is a member.
    for _ in range(2):
        client.post("/card/sign-in/", {"email": "nobody@example.com"}, REMOTE_ADDR=next(addresses))
    assert (
        client.post("/card/sign-in/", {"email": "nobody@example.com"}, REMOTE_ADDR=next(addresses)).status_code == 429
    )


def test_the_sign_in_page_is_throttled_per_address(client, settings):
    settings.LOYALTY_MEMBER_ATTEMPTS_PER_HOUR = 2
    for number in range(2):
        assert client.post("/card/sign-in/", {"email": f"a{number}@example.com"}).status_code == 302
    assert client.post("/card/sign-in/", {"email": "a9@example.com"}).status_code == 429


def test_trying_links_is_throttled_per_address(client, settings):
    settings.LOYALTY_MEMBER_ATTEMPTS_PER_HOUR = 3
    for number in range(3):
        assert client.get(f"/card/open/guess{number}/").status_code == 404
    assert client.get("/card/open/guess9/").status_code == 429
    assert client.get("/card/sign-in/guess/").status_code == 429
    assert client.get("/join/confirm/guess/").status_code == 429


def test_the_members_throttle_never_locks_the_staff_out(client, settings):
    settings.LOYALTY_MEMBER_ATTEMPTS_PER_HOUR = 1
    for _ in range(5):
        client.post("/card/sign-in/", {"email": "a@example.com"})
    staff = StaffFactory()
    response = client.post("/accounts/login/", {"username": staff.username, "password": "correct horse battery staple"})
    assert response.status_code == 302, "the same address still signs staff in"


def test_the_table_keeps_no_address_or_email_in_clear(client):
    client.post("/join/", JOIN, REMOTE_ADDR="203.0.113.7")
    keys = " ".join(ThrottleWindow.objects.values_list("key", flat=True))
    assert "203.0.113.7" not in keys and "nadia" not in keys and len(keys.split()) == 2


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_attempts_are_all_counted():
    limit = Limit("test", 10, dt.timedelta(hours=1))
    verdicts = at_once(16, lambda: hit(limit, "203.0.113.9"))
    assert sum(verdict.allowed for verdict in verdicts) == 10
    assert ThrottleWindow.objects.get().count == 16
