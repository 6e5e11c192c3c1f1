"""Month close (rewards.services.books): closing and reopening, and every refusal of something dated in a closed
month, through each door (the till, the admin, the importer, the services)."""

import datetime as dt
import io
import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse

from audit.models import AuditEvent
from rewards.liability import month_figures
from rewards.local_time import current_month
from rewards.models import ExpiryPolicy, MonthClose, PointsEntry, Recalculation
from rewards.selectors import default_program, rule_version_at
from rewards.services.adjustments import AdjustmentRefused, request_adjustment
from rewards.services.books import CloseRefused, close_month, closed_books, reopen_month, share_books
from rewards.services.expiry import expire_points
from rewards.services.ledger import fold_into_rollup, post_entries
from rewards.services.liability import fold_into_liability, prove_liability
from rewards.services.recalculation import RecalculationRefused, recalculate
from rewards.services.valuation import set_breakage_estimate
from tests.factories import CustomerFactory, ManagerFactory, OwnerFactory, StoreFactory, at, purchase, refund
from tests.migration_rows import restore_migration_rows
from tests.pages import field_error
from transactions.importing import import_transactions
from transactions.models import Transaction

pytestmark = pytest.mark.django_db

JANUARY, FEBRUARY, MARCH = dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)


@pytest.fixture
def january_closed(manager):
    """A purchase in January 2025, and January closed (the books are closed through it)."""
    customer = CustomerFactory(member_number="M1")
    bought = purchase(customer, "120.00", when=at(2025, 1, 10))
    close_month(month=JANUARY, closed_by=manager)
    return customer, bought


# --- closing and reopening --------------------------------------------------------------------------


def test_closing_keeps_the_months_figures_and_is_in_the_audit_trail(manager):
    purchase(CustomerFactory(), "120.00", when=at(2025, 1, 10))
    close = close_month(month=JANUARY, closed_by=manager)
    assert close.figures == month_figures(JANUARY)
    assert close.figures["closing"] == {"points": 90, "money": "0.9000"}
    assert closed_books().through == JANUARY
    event = AuditEvent.objects.get(event="month_closed")
    assert (event.actor, event.detail["month"], event.detail["closing_points"]) == (manager, "2025-01", 90)


def test_months_close_in_order_and_only_once_they_are_over(manager):
    close_month(month=JANUARY, closed_by=manager)
    with pytest.raises(CloseRefused, match="close February 2025 before March 2025"):
        close_month(month=MARCH, closed_by=manager)
    with pytest.raises(CloseRefused, match="already closed"):
        close_month(month=JANUARY, closed_by=manager)
    with pytest.raises(CloseRefused, match="not over yet"):
        close_month(month=current_month(), closed_by=manager)
    close_month(month=FEBRUARY, closed_by=manager)
    assert closed_books().through == FEBRUARY


def test_store_staff_cannot_close_a_month(staff):
    with pytest.raises(CloseRefused, match="Only a manager"):
        close_month(month=JANUARY, closed_by=staff)
    assert not MonthClose.objects.exists()


def test_reopening_needs_an_owner_and_a_reason_and_is_in_the_audit_trail(manager, owner):
    close_month(month=JANUARY, closed_by=manager)
    close_month(month=FEBRUARY, closed_by=manager)
    with pytest.raises(CloseRefused, match="Only an owner"):
        reopen_month(month=FEBRUARY, reopened_by=manager, reason="a late invoice")
    with pytest.raises(CloseRefused, match="a reason is required"):
        reopen_month(month=FEBRUARY, reopened_by=owner, reason="  ")
    with pytest.raises(CloseRefused, match="latest closed month first"):
        reopen_month(month=JANUARY, reopened_by=owner, reason="a late invoice")
    close = reopen_month(month=FEBRUARY, reopened_by=owner, reason="a late invoice")
    assert (close.reopened_by, close.reopen_reason) == (owner, "a late invoice")
    assert closed_books().through == JANUARY
    event = AuditEvent.objects.get(event="month_reopened")
    assert (event.actor, event.detail["month"], event.detail["reason"]) == (owner, "2025-02", "a late invoice")
    # Closing it again is a new close; the reopened one stays as history.
    close_month(month=FEBRUARY, closed_by=manager)
    assert MonthClose.objects.filter(month=FEBRUARY).count() == 2


def test_a_reopened_month_takes_entries_again(january_closed, manager, owner):
    customer, _ = january_closed
    reopen_month(month=JANUARY, reopened_by=owner, reason="a missed receipt")
    purchase(customer, "75.00", when=at(2025, 1, 20))
    assert PointsEntry.objects.filter(customer=customer).count() == 2


# --- refusals, door by door -------------------------------------------------------------------------


def test_a_back_dated_purchase_into_a_closed_month_is_refused_beside_its_date(january_closed):
    customer, _ = january_closed
    with pytest.raises(ValidationError) as refused:
        purchase(customer, "75.00", when=at(2025, 1, 31, 23))
    message = refused.value.message_dict["occurred_at"][0]
    assert message.startswith("January 2025 is closed: nothing can be dated in it (a purchase).")
    assert "date it in February 2025 or later" in message
    assert Transaction.objects.count() == 1 and PointsEntry.objects.count() == 1


def test_the_till_shows_the_refusal_beside_when(january_closed, manager_client):
    customer, _ = january_closed
    response = manager_client.post(
        reverse("transactions:till"),
        {
            "customer": customer.member_number,
            "amount": "75.00",
            "occurred_at": "2025-01-31T12:00",
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert field_error(response, "occurred_at").startswith("January 2025 is closed: nothing can be dated in it")
    assert Transaction.objects.count() == 1


def test_the_admin_refuses_a_back_dated_purchase_beside_its_field(january_closed, manager, client):
    customer, _ = january_closed
    manager.is_staff = True
    manager.save()
    client.force_login(manager)
    store = Transaction.objects.get().store
    response = client.post(
        reverse("admin:transactions_transaction_add"),
        {
            "kind": "purchase",
            "customer": customer.pk,
            "store": store.pk,
            "amount": "75.00",
            "occurred_at_0": "2025-01-20",
            "occurred_at_1": "12:00:00",
        },
    )
    assert response.status_code == 200
    assert "January 2025 is closed" in " ".join(response.context["adminform"].form.errors["occurred_at"])
    assert Transaction.objects.count() == 1


def test_a_refund_of_a_closed_months_purchase_reverses_in_its_own_open_month(january_closed):
    _, bought = january_closed
    refunded = refund(bought, "30.00", when=at(2025, 2, 3, 10))
    assert refunded.entry.effective_at == at(2025, 2, 3, 10)
    assert refunded.entry.points == -50


def test_a_refund_dated_in_a_closed_month_reverses_in_the_first_open_month(january_closed):
    _, bought = january_closed
    refunded = refund(bought, "30.00", when=at(2025, 1, 20))
    assert refunded.transaction.occurred_at == at(2025, 1, 20)  # the refund keeps its date
    entry = refunded.entry
    assert entry.effective_at == at(2025, 2, 1, 0, 0)  # its reversal is February's first moment
    assert entry.points == -50
    assert "the refund's month, January 2025, is closed" in entry.note
    assert entry.facts["refunded_on"] == "2025-01-20"
    assert prove_liability().ok  # January's figures still reproduce


def test_an_adjustment_into_a_closed_month_is_refused(january_closed, manager):
    customer, _ = january_closed
    with pytest.raises(AdjustmentRefused, match=r"^January 2025 is closed: nothing can be dated in it"):
        request_adjustment(customer=customer, points=5, reason="goodwill", requested_by=manager, moment=at(2025, 1, 9))
    assert not PointsEntry.objects.filter(kind="adjustment").exists()


def test_a_recalculation_of_a_closed_month_is_refused(january_closed, manager):
    version = rule_version_at(at(2025, 1, 10))
    with pytest.raises(RecalculationRefused, match="January 2025 is closed"):
        recalculate(program=default_program(), version=version, first_month=JANUARY, months=1, author=manager)
    assert not Recalculation.objects.exists()


def test_an_import_into_a_closed_month_is_refused_by_line(january_closed):
    source = io.BytesIO(
        b"customer_id,transaction_id,amount,occurred_at,kind,refund_of\n"
        b"M1,R-2,75.00,2025-02-01,purchase,\n"
        b"M1,R-3,75.00,2025-01-31T23:59:00,purchase,\n"
    )
    result = import_transactions(source)
    assert not result.ok
    assert [str(message) for message in result.errors] == [
        "line 3: January 2025 is closed: nothing can be dated in it. The books are closed through January 2025; "
        "date it in February 2025 or later, or ask an owner to reopen the month."
    ]
    assert Transaction.objects.count() == 1  # all or nothing: February's row was not written either


def test_no_entry_reaches_the_ledger_dated_in_a_closed_month(january_closed):
    customer, _ = january_closed
    entry = PointsEntry(
        customer=customer, kind="adjustment", points=5, effective_at=at(2025, 1, 15), reason="x",
        created_by=ManagerFactory(),
    )  # fmt: skip
    with pytest.raises(ValidationError, match="January 2025 is closed"):
        post_entries([entry])
    assert PointsEntry.objects.count() == 1


def test_a_late_expiry_run_posts_in_the_first_open_month(manager):
    ExpiryPolicy.objects.create(
        program=default_program(), effective_month=JANUARY, kind="after_months", months=1, changed_by=manager
    )
    customer = CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 10))  # lapses at March's start
    close_month(month=JANUARY, closed_by=manager)
    close_month(month=FEBRUARY, closed_by=manager)
    close_month(month=MARCH, closed_by=manager)
    assert expire_points(day=dt.date(2025, 4, 10)) == 1
    expiry = PointsEntry.objects.get(kind="expiry")
    assert expiry.effective_at == at(2025, 4, 1, 0, 0) and expiry.points == -90
    assert expiry.bonus_key == "expiry:2025-01"


def test_a_breakage_estimate_for_a_closed_month_is_refused_beside_its_month(manager):
    close_month(month=JANUARY, closed_by=manager)
    with pytest.raises(ValidationError) as refused:
        set_breakage_estimate(rate=Decimal(10), reason="study", set_by=manager, effective_month=JANUARY)
    assert "January 2025 is closed" in refused.value.message_dict["effective_month"][0]
    set_breakage_estimate(rate=Decimal(10), reason="study", set_by=manager, effective_month=FEBRUARY)


def test_a_closed_months_figures_reproduce_and_a_tampered_ledger_is_caught(january_closed):
    customer, _ = january_closed
    purchase(customer, "80.00", when=at(2025, 2, 10))
    proof = prove_liability()
    assert proof.ok and proof.closes == [(JANUARY, [])]
    # Something written past the services (raw rows, as a faulty bulk writer might) breaks the reproduction.
    [stray] = PointsEntry.objects.bulk_create(
        [PointsEntry(customer=customer, kind="adjustment", points=7, effective_at=at(2025, 1, 5), reason="stray",
                     created_by=OwnerFactory())]
    )  # fmt: skip
    written = PointsEntry.objects.filter(pk=stray.pk)
    fold_into_rollup(written)
    fold_into_liability(written)
    proof = prove_liability()
    assert not proof.ok
    [(month, differences)] = proof.closes
    assert month == JANUARY
    assert "closing.points: 90 at the close, 97 now" in differences


@pytest.mark.postgres_only
def test_a_close_waits_for_a_write_under_way_and_keeps_it(transactional_db):
    """A till holding the books open (its purchase's transaction under way) finishes before January closes: the
    close's figures include that purchase, so they reproduce."""
    restore_migration_rows()
    manager, customer = ManagerFactory(), CustomerFactory()
    purchase(customer, "120.00", when=at(2025, 1, 10))  # 90
    holding, release = threading.Event(), threading.Event()
    order = []

    def till():
        try:
            with transaction.atomic():
                share_books()
                holding.set()
                release.wait(10)
                purchase(customer, "75.00", when=at(2025, 1, 20))  # 25
                order.append("purchase recorded")
        finally:
            connection.close()

    def close():
        try:
            holding.wait(10)
            closed = close_month(month=JANUARY, closed_by=manager)
            order.append(f"closed at {closed.figures['closing']['points']} points")
        finally:
            connection.close()

    threads = [threading.Thread(target=till), threading.Thread(target=close)]
    for thread in threads:
        thread.start()
    holding.wait(10)
    time.sleep(0.5)  # the close is waiting for the till's transaction now
    release.set()
    for thread in threads:
        thread.join(20)
    assert order == ["purchase recorded", "closed at 115 points"]
    assert prove_liability().ok


def test_a_store_that_first_earns_after_a_close_does_not_break_that_closes_reproduction(january_closed, manager):
    """January closed with points at the default store only; February's points at a second store give that store
    a roll-forward of zeros in January when both closes are checked together: not a difference."""
    customer, _ = january_closed
    purchase(customer, "80.00", when=at(2025, 2, 10), store=StoreFactory())
    close_month(month=FEBRUARY, closed_by=manager)
    proof = prove_liability()
    assert proof.closes == [(JANUARY, []), (FEBRUARY, [])]
    assert proof.ok
