"""Unlimited password guessing, closed: django-axes locks a username and an address after a few failures,
on both sign-in pages, with the reason and the cool-off on the sign-in page; owners unlock."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.conf import settings

from audit.models import AuditEvent
from tests.factories import ManagerFactory, OwnerFactory, StaffFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # the factories'
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


def attempt(client, url, username, password, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def signed_in_as(client, user) -> bool:
    return client.session.get("_auth_user_id") == str(user.pk)


@pytest.mark.parametrize("url", [LOGIN, ADMIN_LOGIN])
def test_four_hundred_wrong_passwords_then_the_right_one_does_not_sign_in(client, url):
    manager = ManagerFactory()
    answers = [attempt(client, url, manager.username, f"guess-{n}").status_code for n in range(400)]
    assert answers[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(answers[settings.AXES_FAILURE_LIMIT - 1 :]) == {429}

    right = attempt(client, url, manager.username, PASSWORD)

    assert right.status_code == 429
    assert not signed_in_as(client, manager)
    # Every guess is on record, and the lock once, from the address it came from.
    assert AuditEvent.objects.filter(event="sign_in_failed", actor_username=manager.username).count() == 401
    lockout = AuditEvent.objects.get(event="lockout")
    assert (lockout.actor_username, lockout.remote_addr) == (manager.username, "127.0.0.1")
    assert not AuditEvent.objects.filter(event="sign_in").exists()


def test_the_sign_in_page_says_why_and_for_how_long(client):
    staff = StaffFactory()
    for n in range(settings.AXES_FAILURE_LIMIT):
        response = attempt(client, LOGIN, staff.username, f"wrong-{n}")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Signing in is locked for this username or from this address." in page
    assert f"Try again in {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in page
    assert 'name="password"' in page and 'href="/accounts/password_reset/"' in page


def test_an_address_is_locked_for_every_username_it_tries(client):
    people = StaffFactory.create_batch(settings.AXES_FAILURE_LIMIT + 1)
    for person in people[:-1]:
        assert attempt(client, LOGIN, person.username, "wrong").status_code in (200, 429)
    # A sixth account, never guessed, from the same address with its right password: refused.
    assert attempt(client, LOGIN, people[-1].username, PASSWORD).status_code == 429
    # From another address it signs in (the username itself was never locked).
    other = attempt(client, LOGIN, people[-1].username, PASSWORD, REMOTE_ADDR="10.1.2.3")
    assert other.status_code == 302 and signed_in_as(client, people[-1])


def test_a_forged_forwarded_for_header_does_not_get_round_the_address_lock(client):
    people = StaffFactory.create_batch(settings.AXES_FAILURE_LIMIT + 1)
    for n, person in enumerate(people[:-1]):
        attempt(client, LOGIN, person.username, "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    # Without trusted proxies (LOYALTY_PROXY_COUNT=0) the address is REMOTE_ADDR, whatever the header says.
    answer = attempt(client, LOGIN, people[-1].username, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert answer.status_code == 429


def test_the_lock_ends_after_the_cool_off(client):
    staff = StaffFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, LOGIN, staff.username, "wrong")
    assert attempt(client, LOGIN, staff.username, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - settings.AXES_COOLOFF_TIME - dt.timedelta(1))
    assert attempt(client, LOGIN, staff.username, PASSWORD).status_code == 302
    assert signed_in_as(client, staff)


def test_an_owner_unlocks_a_username_on_the_accounts_page_and_a_manager_cannot(client):
    staff = StaffFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, LOGIN, staff.username, "wrong", REMOTE_ADDR="10.9.9.9")

    client.force_login(ManagerFactory())
    assert client.post("/staff/unlock/", {"username": staff.username}).status_code == 403
    owner = OwnerFactory()
    client.force_login(owner)
    page = client.get("/staff/").content.decode()
    assert f"Unlock username {staff.username}" in page and "Unlock address 10.9.9.9" in page
    assert client.post("/staff/unlock/", {"username": staff.username}).status_code == 302
    client.logout()

    assert attempt(client, LOGIN, staff.username, PASSWORD, REMOTE_ADDR="10.0.0.2").status_code == 302
    unlock = AuditEvent.objects.get(event="unlock")
    assert (unlock.actor, unlock.additional_data["username"]) == (owner, staff.username)
