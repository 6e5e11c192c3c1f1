"""Shared till terminals: a session ends after the idle limit and when the browser closes."""

import time

import pytest
from django.conf import settings

from accounts.middleware import LAST_SEEN
from audit.models import AuditEvent
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_the_defaults_suit_a_till():
    assert settings.LOYALTY_SESSION_IDLE_MINUTES == 30
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_COOKIE_AGE == 35 * 60


def test_the_session_cookie_ends_with_the_browser(client):
    staff = StaffFactory()
    response = client.post("/accounts/login/", {"username": staff.username, "password": "correct horse battery staple"})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["expires"] == "" and cookie["max-age"] == ""


def test_a_till_left_idle_past_the_limit_is_signed_out_with_a_message(staff_client):
    assert staff_client.get("/till/").status_code == 200
    session = staff_client.session
    session[LAST_SEEN] = int(time.time()) - settings.LOYALTY_SESSION_IDLE_MINUTES * 60 - 1
    session.save()

    response = staff_client.get("/till/")

    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/till/"
    page = staff_client.get(response["Location"]).content.decode()
    assert "You were signed out after 30 minutes without activity." in page
    assert AuditEvent.objects.get(event="sign_out").additional_data == {"reason": "idle"}


def test_activity_within_the_limit_keeps_the_session(staff_client):
    session = staff_client.session
    session[LAST_SEEN] = int(time.time()) - settings.LOYALTY_SESSION_IDLE_MINUTES * 60 + 30
    session.save()
    assert staff_client.get("/till/").status_code == 200
    assert staff_client.session[LAST_SEEN] >= int(time.time()) - 1
    assert staff_client.get("/till/").status_code == 200


def test_no_idle_limit_when_set_to_zero(staff_client, settings):
    settings.LOYALTY_SESSION_IDLE_MINUTES = 0
    session = staff_client.session
    session[LAST_SEEN] = 0
    session.save()
    assert staff_client.get("/till/").status_code == 200
