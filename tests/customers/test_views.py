"""The start page: store staff land on the till; managers keep the start page, which links to the till."""

import pytest

from tests.pages import text_of

pytestmark = pytest.mark.django_db


def test_store_staff_land_on_the_till_after_signing_in(client, staff):
    response = client.post("/accounts/login/", {"username": staff.username, "password": "correct horse battery staple"})
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/till/"


def test_managers_keep_the_start_page_with_a_link_to_the_till(manager_client):
    response = manager_client.get("/")
    assert response.status_code == 200
    assert "Till Record purchases and refunds" in text_of(response)
