"""Roles that cannot be climbed. Each attack of issue 10 is a test that gains nothing: a manager making
themselves superuser, resetting an owner's password, creating a second manager to approve their own
adjustment, forging fields on the staff page; store staff working round the till through the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.services import AccountRefused, create_account
from audit.models import AuditEvent
from customers.models import Customer
from loyalty_site.access import can_use_admin, is_manager, is_owner
from rewards.models import AdjustmentRequest
from tests.factories import CustomerFactory, ManagerFactory, OwnerFactory, StaffFactory, StoreFactory
from tests.pages import text_of
from transactions.models import TillSettings, Transaction

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a quite new pass phrase 42"


def new_account_form(**extra):
    return {
        "username": "newbie",
        "first_name": "New",
        "last_name": "Person",
        "email": "newbie@example.com",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        **extra,
    }


# --- the roles themselves ---------------------------------------------------------------------------


def test_managers_hold_no_auth_permission_and_owners_alone_manage_accounts():
    managers = Group.objects.get(name="Managers")
    assert not managers.permissions.filter(content_type__app_label="auth").exists()
    assert managers.permissions.filter(codename="manage_staff").exists()
    assert not managers.permissions.filter(codename="manage_accounts").exists()
    owners = Group.objects.get(name="Owners")
    assert owners.permissions.filter(codename="manage_accounts").exists()
    assert owners.permissions.filter(content_type__app_label="auth", codename="change_user").exists()
    # Nobody holds a right to write the audit trail.
    assert (
        not Permission.objects.filter(
            content_type__app_label="audit", codename__in=["add_auditevent", "change_auditevent", "delete_auditevent"]
        )
        .filter(group__isnull=False)
        .exists()
    )


def test_a_superuser_counts_as_an_owner_and_an_owner_is_also_a_manager():
    superuser = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    owner = OwnerFactory()
    assert is_owner(superuser) and is_owner(owner)
    assert is_manager(owner)
    assert not is_owner(ManagerFactory()) and not is_owner(StaffFactory())


# --- a manager climbing through the admin -----------------------------------------------------------


def test_a_manager_cannot_tick_superuser_on_themselves_in_the_admin(client):
    manager = ManagerFactory()
    client.force_login(manager)
    url = f"/admin/auth/user/{manager.pk}/change/"
    assert client.get(url).status_code == 403
    forged = {
        "username": manager.username,
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [Group.objects.get(name="Owners").pk],
        "date_joined_0": "2025-01-01",
        "date_joined_1": "00:00:00",
    }
    assert client.post(url, forged).status_code == 403
    manager.refresh_from_db()
    assert not manager.is_superuser and not is_owner(User.objects.get(pk=manager.pk))
    assert client.post("/admin/auth/user/add/", {"username": "second", "password1": NEW_PASSWORD}).status_code == 403
    assert client.get("/admin/auth/group/").status_code == 403
    assert not User.objects.filter(username="second").exists()


def test_a_manager_cannot_reset_an_owners_or_another_managers_password(client):
    owner, other_manager = OwnerFactory(), ManagerFactory()
    client.force_login(ManagerFactory())
    for target in (owner, other_manager):
        form = {"action": "password", "password-new_password1": NEW_PASSWORD, "password-new_password2": NEW_PASSWORD}
        response = client.post(f"/staff/{target.pk}/", form)
        assert response.status_code == 403
        assert "managers manage store staff only" in text_of(response)
        target.refresh_from_db()
        assert target.check_password(PASSWORD)
        assert (
            client.post(f"/admin/auth/user/{target.pk}/password/", {"password1": "x", "password2": "x"}).status_code
            == 403
        )


def test_the_staff_page_does_not_list_owners_managers_or_oneself_to_a_manager(manager_client, manager):
    staff, owner, other = StaffFactory(), OwnerFactory(), ManagerFactory()
    page = text_of(manager_client.get("/staff/"))
    assert staff.username in page
    assert owner.username not in page and other.username not in page
    assert f"/staff/{manager.pk}/" not in manager_client.get("/staff/").content.decode()


# --- a manager forging the staff page ---------------------------------------------------------------


def test_a_manager_posting_a_role_group_ids_and_flags_creates_store_staff_and_nothing_more(manager_client):
    owners, managers = Group.objects.get(name="Owners"), Group.objects.get(name="Managers")
    forged = new_account_form(
        role="Owners", groups=[owners.pk, managers.pk], is_superuser="on", is_staff="on", user_permissions=[1, 2]
    )
    response = manager_client.post("/staff/", forged)
    assert response.status_code == 302
    created = User.objects.get(username="newbie")
    assert [group.name for group in created.groups.all()] == ["Store staff"]
    assert not created.is_superuser and not created.is_staff
    assert not created.user_permissions.exists()
    assert not is_manager(created) and not can_use_admin(created)


def test_a_second_manager_cannot_be_made_to_approve_ones_own_adjustment(client):
    first = ManagerFactory()
    client.force_login(first)
    customer = CustomerFactory()
    client.post(f"/customers/{customer.pk}/adjust/", {"points": "5000", "reason": "goodwill"})
    request = AdjustmentRequest.objects.get()
    assert request.status == AdjustmentRequest.Status.PENDING

    # The manager tries to make a second manager account for themselves, by the page and by the service.
    client.post("/staff/", new_account_form(role="Managers"))
    with pytest.raises(AccountRefused):
        create_account(username="sock", password=NEW_PASSWORD, role="Managers", created_by=first)
    sock = User.objects.get(username="newbie")
    assert not is_manager(sock)

    client.force_login(sock)
    assert client.post(f"/customers/adjustments/{request.pk}/decide/", {"decision": "approve"}).status_code == 403
    request.refresh_from_db()
    assert request.status == AdjustmentRequest.Status.PENDING


# --- what managers may do to store staff ------------------------------------------------------------


def test_a_manager_creates_a_staff_account_with_a_till_store_that_signs_in_to_the_till(manager_client, client):
    elm = StoreFactory(name="Elm Street")
    response = manager_client.post("/staff/", new_account_form(till_store=elm.pk))
    assert response.status_code == 302
    created = User.objects.get(username="newbie")
    assert TillSettings.objects.get(user=created).store == elm
    assert AuditEvent.objects.filter(event="account_created", object_pk=str(created.pk)).exists()
    manager_client.logout()
    signed_in = client.post("/accounts/login/", {"username": "newbie", "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/till/"


def test_a_weak_password_is_refused_beside_the_field_and_nothing_is_created(manager_client):
    response = manager_client.post("/staff/", new_account_form(password1="12345678", password2="12345678"))
    assert response.status_code == 400
    assert "This password is too common" in text_of(response)
    assert not User.objects.filter(username="newbie").exists()


def test_a_manager_sets_a_staff_members_till_store_and_password_and_deactivates_them(manager_client):
    staff = StaffFactory()
    harbour = StoreFactory(name="Harbour")
    url = f"/staff/{staff.pk}/"
    assert manager_client.post(url, {"action": "store", "store-till_store": harbour.pk}).status_code == 302
    assert TillSettings.objects.get(user=staff).store == harbour

    form = {"action": "password", "password-new_password1": NEW_PASSWORD, "password-new_password2": NEW_PASSWORD}
    assert manager_client.post(url, form).status_code == 302
    staff.refresh_from_db()
    assert staff.check_password(NEW_PASSWORD) and not staff.check_password(PASSWORD)

    client = Client()  # the staff member's own browser
    client.force_login(staff)
    assert client.get("/till/").status_code == 200
    assert manager_client.post(url, {"action": "deactivate"}).status_code == 302
    # Signed out at the next request, and no sign-in any more.
    assert client.get("/till/").status_code == 302
    assert client.post("/accounts/login/", {"username": staff.username, "password": NEW_PASSWORD}).status_code == 200
    changed = AuditEvent.objects.filter(event="account_changed", object_pk=str(staff.pk))
    assert any(event.changes.get("is_active") == [True, False] for event in changed)
    assert any(event.changes.get("password") == ["(hidden)", "(hidden)"] for event in changed)


def test_nobody_changes_their_own_account_on_the_staff_page(owner_client, owner):
    response = owner_client.post(f"/staff/{owner.pk}/", {"action": "deactivate"})
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.is_active


# --- owners -----------------------------------------------------------------------------------------


def test_an_owner_creates_a_manager_and_changes_a_role_and_the_trail_says_who(owner_client, owner):
    assert owner_client.post("/staff/", new_account_form(role="Managers")).status_code == 302
    created = User.objects.get(username="newbie")
    assert is_manager(created) and created.is_staff and not is_owner(created)
    staff = StaffFactory()
    assert owner_client.post(f"/staff/{staff.pk}/", {"action": "role", "role-role": "Managers"}).status_code == 302
    assert is_manager(User.objects.get(pk=staff.pk))
    event = AuditEvent.objects.filter(event="account_changed", object_pk=str(staff.pk), changes__has_key="groups")
    change = event.latest("timestamp")
    assert change.actor == owner
    assert change.changes["groups"]["objects"] == ["Managers"]


def test_an_owner_manages_accounts_in_the_admin_too(owner_client):
    assert owner_client.get("/admin/auth/user/").status_code == 200
    assert owner_client.get("/admin/auth/group/").status_code == 200


# --- store staff and the admin ----------------------------------------------------------------------


def test_store_staff_cannot_add_a_transaction_rename_a_customer_or_change_a_referrer_in_the_admin(staff_client):
    referrer, other = CustomerFactory(name="Rita Referrer"), CustomerFactory(name="Otto Other")
    customer = CustomerFactory(name="Carl Customer", referred_by=referrer)
    store = StoreFactory()
    add = "/admin/transactions/transaction/add/"
    change = f"/admin/customers/customer/{customer.pk}/change/"
    assert staff_client.get(add).status_code == 403
    assert staff_client.get(change).status_code == 403
    posted = staff_client.post(
        add,
        {
            "kind": "purchase",
            "customer": customer.pk,
            "store": store.pk,
            "amount": "999999.00",
            "occurred_at_0": "2099-01-01",
            "occurred_at_1": "10:00:00",
        },
    )
    assert posted.status_code == 403
    renamed = staff_client.post(
        change,
        {
            "member_number": customer.member_number,
            "name": "Someone Else",
            "referred_by": other.pk,
            "date_joined_0": "2025-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert renamed.status_code == 403
    customer.refresh_from_db()
    assert (customer.name, customer.referred_by) == ("Carl Customer", referrer)
    assert not Transaction.objects.exists()
    assert Customer.objects.count() == 3


def test_store_staff_hold_no_right_to_add_transactions_or_change_customers():
    staff = StaffFactory()
    assert not staff.has_perm("transactions.add_transaction")
    assert not staff.has_perm("customers.change_customer")
    # The till's enrolment needs this one.
    assert staff.has_perm("customers.add_customer")


# --- the staff page's queries -----------------------------------------------------------------------


@pytest.mark.parametrize("accounts", [2, 12])
def test_the_staff_page_issues_a_fixed_number_of_queries(client, django_assert_num_queries, accounts):
    for n in range(accounts):
        staff = StaffFactory()
        if n % 2:
            TillSettings.objects.create(user=staff, store=StoreFactory())
    client.force_login(ManagerFactory())
    # session, user, the user's and the group's permissions, the store choices, the accounts (till store
    # and two-factor with them), their groups
    with django_assert_num_queries(7):
        assert client.get("/staff/").status_code == 200
    client.force_login(OwnerFactory())
    # the same, and the locked usernames and addresses
    with django_assert_num_queries(9):
        assert client.get("/staff/").status_code == 200
