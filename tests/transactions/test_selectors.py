"""The till's reads: the till store, a customer's points, recent transactions, a transaction's account of points."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from rewards.local_time import current_month, local_midnight
from tests.factories import CustomerFactory, StaffFactory, StoreFactory, default_store, purchase, refund
from transactions import selectors
from transactions.models import TillSettings
from transactions.services import remember_till_store

pytestmark = pytest.mark.django_db


def test_the_till_store_is_the_remembered_one_else_the_default_and_a_closed_one_falls_back():
    staff = StaffFactory()
    assert selectors.till_store_for(staff) == default_store()

    elm = StoreFactory(name="Elm Street")
    remember_till_store(user=staff, store=elm)
    assert selectors.till_store_for(staff) == elm
    assert TillSettings.objects.count() == 1

    oak = StoreFactory(name="Oak Road")
    remember_till_store(user=staff, store=oak)
    assert TillSettings.objects.get().store == oak

    oak.is_active = False
    oak.save()
    assert selectors.till_store_for(staff) == default_store()


def test_customer_points_are_the_balance_and_what_this_calendar_month_earned():
    customer = CustomerFactory()
    last_month = local_midnight(current_month()) - dt.timedelta(hours=1)
    old = purchase(customer, "120.00", when=last_month)  # 90 last month
    purchase(customer, "70.00")  # 20 this month
    refund(old, "30.00")  # -50 this month, for last month's purchase
    purchase(CustomerFactory(), "500.00")  # someone else

    points = selectors.customer_points(customer.pk)

    assert points.balance == 90 + 20 - 50
    assert points.this_month == 20 - 50


def test_customer_points_of_a_new_member_are_zero():
    assert selectors.customer_points(CustomerFactory().pk) == selectors.CustomerPoints(balance=0, this_month=0)


def test_recent_transactions_carry_their_points_and_what_is_left_to_refund():
    customer = CustomerFactory()
    now = timezone.now()
    first = purchase(customer, "120.00", when=now - dt.timedelta(hours=3), receipt="P-1")
    purchase(customer, "60.00", when=now - dt.timedelta(hours=2), receipt="P-2")
    refund(first, "30.00", when=now - dt.timedelta(hours=1), receipt_number="R-1")
    purchase(CustomerFactory(), "80.00", receipt="OTHER")

    rows = selectors.recent_transactions(customer.pk)

    assert [(t.receipt_number, t.kind, t.points, t.refundable) for t in rows] == [
        ("R-1", "refund", -50, Decimal("0")),
        ("P-2", "purchase", 10, Decimal("60.00")),
        ("P-1", "purchase", 90, Decimal("90.00")),
    ]
    assert rows[0].refund_of.receipt_number == "P-1"


def test_recent_transactions_are_limited():
    customer = CustomerFactory()
    for index in range(4):
        purchase(customer, "10.00", when=timezone.now() - dt.timedelta(minutes=index))
    assert len(selectors.recent_transactions(customer.pk, limit=3)) == 3
