"""Two-factor sign-in for owners and managers, with real time-based codes computed here (RFC 6238,
independently of django-otp) from the key the enrolment page shows."""

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.factories import ManagerFactory, OwnerFactory, StaffFactory
from tests.pages import text_of

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
ENROL, VERIFY = "/accounts/two-factor/", "/accounts/two-factor/verify/"


def totp(secret_base32: str, *, steps_ahead: int = 0, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 (HMAC-SHA1), as an authenticator app computes it; `steps_ahead` gives the next window's code
    (a code is accepted once: signing in right after enrolling needs a later one, as a person would have)."""
    key = base64.b32decode(secret_base32 + "=" * (-len(secret_base32) % 8))
    counter = int(time.time() // step) + steps_ahead
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def shown_secret(response) -> str:
    match = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', response.content.decode())
    assert match, "the enrolment page shows the key to type"
    return match.group(1).replace(" ", "")


def sign_in(client, user, password=PASSWORD, url="/accounts/login/"):
    return client.post(url, {"username": user.username, "password": password})


def enrol(client, user) -> str:
    client.force_login(user)
    page = client.get(ENROL)
    secret = shown_secret(page)
    assert client.post(ENROL, {"code": totp(secret)}).status_code == 302
    client.logout()
    return secret


def test_a_manager_enrols_with_a_qr_code_drawn_on_the_server_and_a_first_code(client):
    manager = ManagerFactory()
    client.force_login(manager)
    page = client.get(ENROL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "<script" not in html
    secret = shown_secret(page)
    # The key shown is the device's own: the QR code's otpauth URL carries the same.
    device = TOTPDevice.objects.get(user=manager, confirmed=False)
    assert f"secret={secret}" in device.config_url

    wrong = client.post(ENROL, {"code": str((int(totp(secret)) + 1) % 1_000_000).zfill(6)})
    assert wrong.status_code == 400
    assert "not the one your app shows" in text_of(wrong)
    time.sleep(1.1)  # django-otp makes the next try wait after a wrong code (1 s after the first)
    assert client.post(ENROL, {"code": totp(secret)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert "Two-factor sign-in is on" in text_of(client.get(ENROL))
    confirmed = AuditEvent.objects.get(event="two_factor_device_changed")
    assert confirmed.changes == {"confirmed": [False, True]} and confirmed.actor == manager
    assert "key" not in str(AuditEvent.objects.filter(event="two_factor_device_added").get().changes)


def test_after_the_password_an_enrolled_manager_must_enter_a_code_before_anything_else(client):
    manager = ManagerFactory()
    secret = enrol(client, manager)

    assert sign_in(client, manager).status_code == 302
    for url in ("/", "/reports/", "/till/", "/staff/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(VERIFY + "?next="), url

    code = totp(secret, steps_ahead=1)
    refused = client.post(VERIFY + "?next=/reports/", {"code": "000000" if code != "000000" else "111111"})
    assert refused.status_code == 400
    assert client.get("/reports/").status_code == 302
    # Right away, even the right code waits: django-otp throttles after a wrong one.
    assert client.post(VERIFY, {"code": code}).status_code == 400
    time.sleep(1.1)
    accepted = client.post(VERIFY + "?next=/reports/", {"code": code, "next": "/reports/"})
    assert accepted.status_code == 302 and accepted["Location"] == "/reports/"
    assert client.get("/reports/").status_code == 200
    assert list(AuditEvent.objects.filter(event__startswith="two_factor_").values_list("event", flat=True))[:3] == [
        "two_factor_verified",
        "two_factor_failed",
        "two_factor_failed",
    ]


def test_the_admin_sign_in_page_asks_for_the_code_too(client):
    owner = OwnerFactory()
    secret = enrol(client, owner)
    assert sign_in(client, owner, url="/admin/login/?next=/admin/").status_code == 302
    response = client.get("/admin/auth/user/")
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    client.post(VERIFY, {"code": totp(secret, steps_ahead=1)})
    assert client.get("/admin/auth/user/").status_code == 200


def test_a_code_works_once(client):
    manager = ManagerFactory()
    secret = enrol(client, manager)
    sign_in(client, manager)
    code = totp(secret, steps_ahead=1)
    assert client.post(VERIFY, {"code": code}).status_code == 302
    other = Client()
    sign_in(other, manager)
    # The same code again, from another browser within the same 30 seconds: refused (django-otp's last_t).
    assert other.post(VERIFY, {"code": code}).status_code == 400
    assert other.get("/").status_code == 302


def test_with_two_factor_required_an_owner_or_manager_enrols_before_anything_else(client, settings):
    settings.LOYALTY_REQUIRE_2FA = True
    manager = ManagerFactory()
    sign_in(client, manager)
    response = client.get("/reports/")
    assert response.status_code == 302 and response["Location"].startswith(ENROL + "?next=")
    page = client.get(response["Location"])
    assert "Set one up to go on" in text_of(page)
    secret = shown_secret(page)
    assert client.post(response["Location"], {"code": totp(secret), "next": "/reports/"})["Location"] == "/reports/"
    assert client.get("/reports/").status_code == 200


def test_with_two_factor_required_store_staff_sign_in_as_before_and_cannot_enrol(client, settings):
    settings.LOYALTY_REQUIRE_2FA = True
    staff = StaffFactory()
    sign_in(client, staff)
    assert client.get("/till/").status_code == 200
    assert client.get(ENROL).status_code == 403


def test_the_navigation_offers_two_factor_to_owners_and_managers_only(client):
    client.force_login(ManagerFactory())
    assert f'href="{ENROL}"' in client.get("/").content.decode()
    client.force_login(StaffFactory())
    assert f'href="{ENROL}"' not in client.get("/till/").content.decode()
