"""API keys: stored hashed, shown once, an account each that cannot sign in, created and revoked by owners and
managers on a page and by `manage.py create_api_key`; every call attributed to the key in the audit trail."""

import hashlib
import io
import json
import re
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from api.keys import create_api_key, key_for
from api.models import ApiKey
from audit.models import AuditEvent
from tests.factories import StoreFactory
from tests.pages import text_of

from .conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_as_its_prefix_and_the_sha256_of_its_secret_only(manager):
    new = create_api_key(name="Web shop", role="manager", created_by=manager)
    scheme, prefix, secret = new.secret.split("_", 2)
    key = ApiKey.objects.get()
    assert (scheme, key.prefix) == ("lk", prefix)
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.objects.values().get())
    assert key_for(new.secret) == key
    assert key_for(new.secret[:-1] + ("A" if new.secret[-1] != "A" else "B")) is None


def test_a_keys_account_cannot_sign_in_nor_appear_among_the_people(owner_client, manager):
    key = create_api_key(name="Till 3", role="staff", created_by=manager).api_key
    account = key.user
    assert (account.username, account.is_active, account.has_usable_password()) == (
        f"api-key-{key.prefix}",
        False,
        False,
    )
    assert not account.groups.exists()
    # Even with a password set behind the product's back (the admin), an inactive account cannot sign in.
    account.set_password("correct horse battery staple")
    account.save()
    signed_in = Client().post(
        "/accounts/login/", {"username": account.username, "password": "correct horse battery staple"}
    )
    assert signed_in.status_code == 200 and "_auth_user_id" not in signed_in.client.session
    assert account.username not in text_of(owner_client.get("/staff/"))
    assert owner_client.get(f"/staff/{account.pk}/").status_code == 403


def test_the_command_prints_the_key_once_and_binds_a_store(capsys):
    StoreFactory(code="elm", name="Elm Street")
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "--name", "Elm POS", "--role", "staff", "--store", "elm", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    key = key_for(secret)
    assert (key.name, key.role, key.store.code, key.created_by) == ("Elm POS", "staff", "elm", None)
    assert "at Elm Street only" in err.getvalue() and "not shown again" in err.getvalue()
    created = AuditEvent.objects.get(event="api_key_created")
    assert created.actor_username.endswith("(command line)")
    with pytest.raises(CommandError, match="No store has the code 'nowhere'"):
        call_command("create_api_key", "--name", "X", "--role", "staff", "--store", "nowhere")


def test_a_manager_creates_a_key_on_the_page_sees_it_once_and_a_resubmitted_form_creates_no_second(manager_client):
    form = {"name": "Web shop", "role": "manager", "store": "", "form_key": str(uuid.uuid4())}
    response = manager_client.post("/api-keys/", form)

    assert response.status_code == 200
    secret = re.search(r'value="(lk_[^"]+)"', response.content.decode())[1]
    assert key_for(secret).name == "Web shop"
    assert "no-store" in response["Cache-Control"]
    again = manager_client.post("/api-keys/", form, follow=True)
    assert ApiKey.objects.count() == 1
    assert "This form already created the key Web shop" in text_of(again)
    assert secret not in again.content.decode()
    page = text_of(manager_client.get("/api-keys/"))
    assert "Web shop" in page and secret not in page and f"lk_{key_for(secret).prefix}_…" in page


def test_the_form_refuses_a_missing_name_beside_the_field(manager_client):
    response = manager_client.post("/api-keys/", {"name": "", "role": "staff", "form_key": str(uuid.uuid4())})
    assert response.status_code == 400
    assert "Name the key after what will use it." in text_of(response)
    assert not ApiKey.objects.exists()


def test_revoking_on_the_page_ends_the_key_and_is_recorded(manager_client, manager):
    new = create_api_key(name="Old POS", role="staff", created_by=manager)
    response = manager_client.post(f"/api-keys/{new.api_key.pk}/revoke/", follow=True)
    assert "is revoked" in text_of(response)
    assert ApiClient(new.secret).get("customers", {"q": "x"}).status_code == 401
    event = AuditEvent.objects.get(event="api_key_revoked")
    assert (event.actor, event.additional_data["name"]) == (manager, "Old POS")


def test_store_staff_cannot_open_the_keys_page(staff_client):
    assert staff_client.get("/api-keys/").status_code == 403
    assert staff_client.post("/api-keys/1/revoke/").status_code == 403


def test_every_call_is_attributed_to_the_key_in_the_audit_trail_and_its_last_use_shown(make_key, manager_client):
    key, api = make_key("staff", name="Web shop")
    api.get("customers", {"q": "nobody"})
    api.post("purchases", {"customer": "NOPE", "amount": "1.00"})

    calls = AuditEvent.objects.filter(event="api_call").order_by("id")
    assert [(event.actor, event.additional_data["method"], event.additional_data["status"]) for event in calls] == [
        (key.user, "GET", 200),
        (key.user, "POST", 422),
    ]
    assert calls[0].additional_data["key"] == "Web shop"
    assert calls[0].additional_data["path"] == "/api/v1/customers?q=nobody"
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert "never" not in text_of(manager_client.get("/api-keys/")).split("Web shop")[1].split("Status")[0]


def test_the_reference_is_for_managers_and_the_document_for_any_key_or_a_signed_in_manager(staff_api, manager, staff):
    document = staff_api.get("schema/", {"format": "json"})
    assert document.status_code == 200 and json.loads(document.content)["info"]["title"] == "Loyalty API"
    as_manager, as_staff, signed_out = Client(), Client(), Client()
    as_manager.force_login(manager)
    as_staff.force_login(staff)
    assert as_manager.get("/api/v1/schema/").status_code == 200
    assert as_staff.get("/api/v1/schema/").status_code == 403
    assert signed_out.get("/api/v1/schema/").status_code == 401
    assert as_manager.get("/api/v1/docs/").status_code == 200
    assert as_staff.get("/api/v1/docs/").status_code == 403
    assert signed_out.get("/api/v1/docs/")["Location"].startswith("/accounts/login/")
