"""A small book for the accountant's tests, every figure checked by hand (merchant's zone: America/New_York).

Point value 0.01 from the start, 0.02 from 2025-02-15 00:00. Stores: Main (the default) and Elm.

January 2025
  Jan 10  Ann buys 120.00 at Main               earn        +90   at 0.01 =  0.90   (50 x 1 + 20 x 2)
  Jan 20  Bob buys  80.00 at Elm                earn        +30   at 0.01 =  0.30
  Jan 25  a manager adds 10 to Ann (goodwill)   adjustment  +10   at 0.01 =  0.10   (no store)
          closing 130 points, 1.30

February 2025
  Feb  5  Ann's refund of 30.00 at Elm          reversal    -50   at 0.01 = -0.50   (90.00 left earns 40)
  Feb 15  a point becomes worth 0.02: the 80 points outstanding are revalued: 80 x 0.01 = +0.80
  Feb 20  Bob redeems a 20-point reward at Elm  redemption  -20   at 0.02 = -0.40
  Feb 25  Ann buys 150.00 at Main               earn       +150   at 0.02 =  3.00   (50 + 50 x 2)
          closing 210 points, 1.30 - 0.50 + 0.80 - 0.40 + 3.00 = 4.20 = 210 x 0.02

March 2025 (expiry: points earned from January 2025 lapse 1 month after their month, at March 1)
  Mar  1  Ann's January lot lapses              expiry     -100   at 0.02 = -2.00   (90 + 10)
          Bob's January lot lapses              expiry      -10   at 0.02 = -0.20   (30 less the 20 redeemed)
  Mar 10  Bob buys 60.00 at Main                earn        +10   at 0.02 =  0.20
          closing 110 points, 4.20 - 2.20 + 0.20 = 2.20 = 110 x 0.02

By store (the period's closing): Main 250 (5.00); Elm -40 (-0.80: 30 - 50 - 20, its Feb revaluation
-20 x 0.01 = -0.20); no store -100 (-2.00: 10 + its revaluation 0.10 - 110 expired). 250 - 40 - 100 = 110.

Breakage, observed (redeemed / (redeemed + expired), cumulative):
  January   nothing redeemed or expired: no evidence, B = 0
  February  20 / 20 = 100% redeemed: B = 0; revenue from redemptions 0.40 x 220/230 (sale-linked share) = 0.38
  March     20 / 130 redeemed: B = 110/130; breakage to date = max(expired 2.20 x 230/240 = 2.1083,
            min(B x sale-linked issued 3.90 = 3.30, 0.38 x B/(1-B) = 0.38 x 5.5 = 2.09)) = 2.11
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from rewards.models import ExpiryPolicy, PointValue, Reward
from rewards.selectors import default_program
from rewards.services.adjustments import request_adjustment
from rewards.services.expiry import expire_points
from rewards.services.redemption import redeem
from tests.factories import CustomerFactory, ManagerFactory, StoreFactory, at, default_store, purchase, refund

JANUARY, FEBRUARY, MARCH = dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)


@dataclass
class SmallBook:
    ann: object
    bob: object
    main: object
    elm: object
    manager: object
    first_purchase: object  # Ann's 120.00 of January


def small_book() -> SmallBook:
    """Write the small book (call with TIME_ZONE set to America/New_York)."""
    program = default_program()
    manager = ManagerFactory()
    main, elm = default_store(), StoreFactory(code="elm", name="Elm Street")
    ann = CustomerFactory(member_number="A001", name="Ann Archer")
    bob = CustomerFactory(member_number="B002", name="Bob Baker")
    # What the services refuse (a value starting in the past), a test may write: the book is history.
    PointValue.objects.create(program=program, effective_from=at(2025, 2, 15, 0, 0), value=Decimal("0.0200"))
    ExpiryPolicy.objects.create(
        program=program, effective_month=JANUARY, kind=ExpiryPolicy.Kind.AFTER_MONTHS, months=1, changed_by=manager
    )
    bought = purchase(ann, "120.00", when=at(2025, 1, 10), store=main)
    purchase(bob, "80.00", when=at(2025, 1, 20), store=elm)
    request_adjustment(customer=ann, points=10, reason="goodwill", requested_by=manager, moment=at(2025, 1, 25))
    refund(bought, "30.00", when=at(2025, 2, 5), store=elm)
    reward = Reward.objects.create(program=program, name="Cake", points_cost=20, benefit=Reward.Benefit.FREE_ITEM)
    redeem(customer=bob, reward=reward, store=elm, redeemed_by=manager, moment=at(2025, 2, 20))
    purchase(ann, "150.00", when=at(2025, 2, 25), store=main)
    expire_points(day=dt.date(2025, 3, 2))
    purchase(bob, "60.00", when=at(2025, 3, 10), store=main)
    return SmallBook(ann=ann, bob=bob, main=main, elm=elm, manager=manager, first_purchase=bought)
