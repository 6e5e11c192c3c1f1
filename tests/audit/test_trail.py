"""The audit trail: one function writes it, nobody changes or deletes it (product, admin, ORM), owners and
managers browse, filter and export it on a page."""

import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth.models import Group

import audit
from audit.models import AuditEvent, AuditTrailIsAppendOnly
from tests.factories import CustomerFactory, ManagerFactory, OwnerFactory, StaffFactory
from tests.pages import text_of

pytestmark = pytest.mark.django_db

URL = "/audit/"


def test_record_keeps_who_when_where_what_and_what_changed(rf):
    manager = ManagerFactory()
    customer = CustomerFactory(name="Ann Archer")
    request = rf.post("/somewhere", REMOTE_ADDR="192.0.2.10")
    request.user = manager

    event = audit.record(
        audit.Event.POLICY_CHANGED,
        request=request,
        target=customer,
        changes={"threshold": (500, 250)},
        detail={"why": "test", "amount": Decimal("1.50")},
    )

    event.refresh_from_db()
    assert (event.actor, event.actor_username, event.remote_addr) == (manager, manager.username, "192.0.2.10")
    assert (event.event, event.object_repr, event.object_pk) == ("policy_changed", str(customer), str(customer.pk))
    assert event.changes == {"threshold": [500, 250]}
    assert event.additional_data == {"why": "test", "amount": "1.50"}
    assert event.timestamp is not None


def test_events_cannot_be_changed_or_deleted_through_the_orm():
    event = audit.record(audit.Event.EXPORT, detail={"report": "x"})
    event.object_repr = "forged"
    with pytest.raises(AuditTrailIsAppendOnly):
        event.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(object_repr="forged")
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).object_repr == ""


def test_the_admin_shows_the_trail_read_only_even_to_an_owner(owner_client):
    event = audit.record(audit.Event.EXPORT, detail={"report": "x"})
    assert owner_client.get("/admin/audit/auditevent/").status_code == 200
    assert owner_client.get("/admin/audit/auditevent/add/").status_code == 403
    change = owner_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert owner_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = owner_client.post("/admin/audit/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk]})
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_an_account_with_a_history_cannot_be_deleted_only_deactivated(owner_client):
    staff = StaffFactory()
    audit.record(audit.Event.SIGN_IN, actor=staff)
    owner_client.post(f"/admin/auth/user/{staff.pk}/delete/", {"post": "yes"})
    assert type(staff).objects.filter(pk=staff.pk).exists()


def test_account_group_and_permission_changes_in_the_admin_are_recorded_before_and_after(owner_client, owner):
    group = Group.objects.create(name="Auditors")
    staff = StaffFactory(first_name="Sam")
    form = {
        "username": staff.username,
        "first_name": "Samuel",
        "last_name": "",
        "email": staff.email,
        "is_active": "on",
        "groups": [group.pk],
        "date_joined_0": "2025-01-01",
        "date_joined_1": "00:00:00",
    }
    assert owner_client.post(f"/admin/auth/user/{staff.pk}/change/", form).status_code == 302
    events = AuditEvent.objects.filter(event="account_changed", object_pk=str(staff.pk), actor=owner)
    fields = [event.changes for event in events if "groups" not in event.changes]
    assert len(fields) == 1
    assert (fields[0]["first_name"], fields[0]["is_staff"]) == (["Sam", "Samuel"], [True, False])
    groups = sorted(
        (event.changes["groups"]["operation"], event.changes["groups"]["objects"])
        for event in events.filter(changes__has_key="groups")
    )
    assert groups == [("add", ["Auditors"]), ("delete", ["Store staff"])]
    assert all(event.remote_addr == "127.0.0.1" for event in events)


def test_the_page_is_for_owners_and_managers(client):
    for person, status in ((OwnerFactory(), 200), (ManagerFactory(), 200), (StaffFactory(), 403)):
        client.force_login(person)
        assert client.get(URL).status_code == status
    client.logout()
    assert client.get(URL).status_code == 302


def test_the_page_filters_by_event_person_subject_day_and_address(manager_client):
    ann, bob = StaffFactory(username="ann"), StaffFactory(username="bob")
    audit.record(audit.Event.SIGN_IN, actor=ann, target=ann)
    audit.record(audit.Event.SIGN_IN_FAILED, username="bob")
    audit.record(audit.Event.REFUND, actor=bob, target=CustomerFactory(name="Refunded Rita"))

    def rows(**query):
        return manager_client.get(URL, query).context["table"].paginator.count

    assert rows(event="sign_in_failed") == 1
    assert rows(who="bob") == 2
    assert rows(about="rita") == 1
    assert rows(since="2000-01-01", until="2000-01-02") == 0
    assert rows(address="127.0.0.1") == 0
    bad = manager_client.get(URL, {"address": "not an address", "event": "nonsense"})
    assert bad.status_code == 400


def test_the_page_shows_what_changed_in_words(manager_client):
    audit.record(audit.Event.POLICY_CHANGED, changes={"adjustment_approval_threshold": (500, 250)})
    page = text_of(manager_client.get(URL))
    assert "adjustment approval threshold: 500 → 250" in page
    assert "Program policy changed" in page


def test_the_page_issues_a_fixed_number_of_queries(manager_client, django_assert_num_queries):
    for n in range(30):
        audit.record(audit.Event.SIGN_IN_FAILED, username=f"guess{n}", target=CustomerFactory())
    # session, user, the user's and the group's permissions, the count, the page of events with actors
    # and content types
    with django_assert_num_queries(6):
        assert manager_client.get(URL).status_code == 200


def test_csv_and_xlsx_exports_neutralise_formulas_and_are_themselves_recorded(manager_client, manager):
    audit.record(audit.Event.SIGN_IN_FAILED, username="=HYPERLINK(1)")
    audit.record(audit.Event.SIGN_IN_FAILED, username="＝1+2")
    response = manager_client.get(URL, {"event": "sign_in_failed", "_export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["When", "Who", "Event", "About", "What changed", "Detail", "Address"]
    assert sorted(row[1] for row in rows[1:]) == ["'=HYPERLINK(1)", "'＝1+2"]

    xlsx = manager_client.get(URL, {"_export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    exports = AuditEvent.objects.filter(event="export", actor=manager)
    assert exports.count() == 2
    assert exports.order_by("id").first().additional_data == {
        "report": "audit log",
        "format": "csv",
        "filters": {"event": "sign_in_failed"},
    }


def test_the_navigation_links_to_the_page_for_owners_and_managers_only(client):
    client.force_login(ManagerFactory())
    assert 'href="/audit/"' in client.get("/").content.decode()
    client.force_login(StaffFactory())
    assert 'href="/audit/"' not in client.get("/till/").content.decode()
