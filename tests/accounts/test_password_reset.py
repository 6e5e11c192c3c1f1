"""Password reset by mail, the whole flow through Django's test outbox; and an honest page where no mail
can be sent."""

import re

import pytest
from django.core import mail

from audit.models import AuditEvent
from tests.factories import StaffFactory
from tests.pages import text_of

pytestmark = pytest.mark.django_db

OLD, NEW = "correct horse battery staple", "a brand new pass phrase 77"


def test_the_sign_in_page_links_to_the_reset(client):
    assert 'href="/accounts/password_reset/"' in client.get("/accounts/login/").content.decode()


def test_the_link_in_the_mail_sets_a_new_password_and_the_old_one_stops_working(client, settings):
    settings.DEFAULT_FROM_EMAIL = "loyalty@shop.example"
    staff = StaffFactory(email="sam@example.com")
    form = client.get("/accounts/password_reset/")
    assert form.status_code == 200 and "Reset your password" in text_of(form)

    sent = client.post("/accounts/password_reset/", {"email": "sam@example.com"})
    assert sent.status_code == 302 and sent["Location"] == "/accounts/password_reset/done/"
    assert "Check your email" in text_of(client.get(sent["Location"]))
    [message] = mail.outbox
    assert message.to == ["sam@example.com"] and message.from_email == "loyalty@shop.example"
    assert message.subject == "Reset your Loyalty password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)

    page = client.get(link, follow=True)
    assert "Choose a new password" in text_of(page)
    set_url = page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    assert "Your new password is set" in text_of(client.get(done["Location"]))

    assert client.post("/accounts/login/", {"username": staff.username, "password": OLD}).status_code == 200
    assert client.post("/accounts/login/", {"username": staff.username, "password": NEW}).status_code == 302
    # The link works once.
    client.logout()
    assert "does not work any more" in text_of(client.get(link, follow=True))
    assert AuditEvent.objects.filter(event="password_reset_requested").exists()
    assert AuditEvent.objects.filter(event="account_changed", changes__has_key="password").exists()


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client):
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/accounts/password_reset/done/"
    assert mail.outbox == []


def test_without_mail_settings_the_page_says_so_and_pretends_nothing(client, settings):
    settings.LOYALTY_PASSWORD_RESET_BY_MAIL = False
    StaffFactory(email="sam@example.com")
    page = client.get("/accounts/password_reset/")
    assert page.status_code == 503
    assert "This site cannot send email" in text_of(page)
    assert 'name="email"' not in page.content.decode()
    posted = client.post("/accounts/password_reset/", {"email": "sam@example.com"})
    assert posted.status_code == 503 and "Check your email" not in text_of(posted)
    assert mail.outbox == []
