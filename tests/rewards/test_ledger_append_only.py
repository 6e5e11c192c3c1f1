"""The ledger and the audit trail are append-only in the database too: on PostgreSQL a trigger refuses
UPDATE and DELETE of their rows, whatever the code above it does (loyalty_site/append_only.py)."""

import pytest
from django.db import IntegrityError, connection, transaction

import audit
from rewards.models import PointsEntry
from tests.factories import CustomerFactory, purchase

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]


def refused(sql: str, params: list) -> str:
    with pytest.raises(IntegrityError) as error, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(error.value)


def test_the_database_refuses_to_update_or_delete_a_points_entry():
    entry = purchase(CustomerFactory(), "120.00").entry

    assert "rewards_pointsentry is append-only: UPDATE" in refused(
        "UPDATE rewards_pointsentry SET points = 9999 WHERE id = %s", [entry.pk]
    )
    assert "rewards_pointsentry is append-only: DELETE" in refused(
        "DELETE FROM rewards_pointsentry WHERE id = %s", [entry.pk]
    )
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        PointsEntry.objects.filter(pk=entry.pk).update(points=1)
    assert PointsEntry.objects.get(pk=entry.pk).points == 90


def test_the_database_refuses_to_update_or_delete_an_audit_event():
    event = audit.record(audit.Event.EXPORT, detail={"report": "monthly points"})

    assert "audit_auditevent is append-only: UPDATE" in refused(
        "UPDATE audit_auditevent SET actor_username = 'someone else' WHERE id = %s", [event.pk]
    )
    assert "audit_auditevent is append-only: DELETE" in refused(
        "DELETE FROM audit_auditevent WHERE id = %s", [event.pk]
    )


def test_new_entries_are_still_written():
    recorded = purchase(CustomerFactory(), "75.00")
    assert PointsEntry.objects.filter(pk=recorded.entry.pk, points=25).exists()
