"""Tests of check_points_rollup: the roll-up is proved equal to the ledger, and rebuilt from it."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from rewards.models import CustomerMonthPoints
from rewards.services.ledger import rollup_differences
from tests.factories import CustomerFactory, at, purchase, refund

pytestmark = pytest.mark.django_db


def check(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("check_points_rollup", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def ledger(db):
    ann = CustomerFactory(member_number="A1")
    bob = CustomerFactory(member_number="B2")
    bought = purchase(ann, "120.00", when=at(2025, 1, 10))
    refund(bought, "20.00", when=at(2025, 2, 1))
    purchase(bob, "60.00", when=at(2025, 2, 3))
    return ann, bob


def test_a_roll_up_kept_by_the_services_equals_the_ledger(ledger):
    out, _err = check()

    assert out.strip() == "The roll-up equals the ledger."
    assert rollup_differences() == []


def test_a_tampered_row_is_detected_and_repaired(ledger):
    ann, bob = ledger
    CustomerMonthPoints.objects.filter(customer=ann, month=dt.date(2025, 1, 1)).update(earned=91)
    CustomerMonthPoints.objects.filter(customer=bob).delete()
    CustomerMonthPoints.objects.create(customer=bob, month=dt.date(2025, 3, 1), earned=5, entries=1)

    with pytest.raises(CommandError) as caught:
        check()
    assert caught.value.returncode == 1
    assert "3 customer-month(s)" in str(caught.value)

    differences = {(d.customer_id, d.month): d for d in rollup_differences()}
    tampered = differences[(ann.pk, dt.date(2025, 1, 1))]
    assert (tampered.ledger["earned"], tampered.rollup["earned"]) == (90, 91)
    assert differences[(bob.pk, dt.date(2025, 2, 1))].rollup is None
    assert differences[(bob.pk, dt.date(2025, 3, 1))].ledger is None

    out, err = check("--repair")
    assert "customer A1 2025-01: ledger earned=90" in err and "roll-up earned=91" in err
    assert "rebuilt" in out
    assert rollup_differences() == []
    assert check()[0].strip() == "The roll-up equals the ledger."
