"""Load the demo data set on an empty database: stores, a few hundred customers, three full months of
purchases ending with last month, and a demo owner, a demo manager and a demo store-staff account.

Refused wherever settings.DEMO_DATA_ALLOWED is off, which the production settings force.
"""

import datetime as dt
import random
import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from customers.models import Customer
from customers.services import enrol_customer
from members.services.access import card_link, issue_card_key
from rewards.calendar import add_months
from rewards.local_time import current_month, local_midnight
from rewards.models import Reward
from rewards.selectors import customer_balance
from rewards.services.redemption import redeem, save_reward
from transactions.models import Store, Transaction
from transactions.services import record_purchase, record_refund

FIRST_NAMES = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Keiko",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wes",
    "Yara",
    "Zoe",
]
LAST_NAMES = [
    "Anders",
    "Baker",
    "Castro",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nguyen",
    "Okafor",
    "Patel",
    "Rossi",
    "Silva",
    "Tanaka",
    "Weber",
]
STORES = [("elm-street", "Elm Street"), ("harbour", "Harbour Road")]


class Command(BaseCommand):
    help = "Load demo stores, customers, three months of purchases and three demo accounts (local use only)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when customers already exist.")
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2024)

    def handle(self, *args, if_empty: bool, customers: int, seed: int, **options):
        if not settings.DEMO_DATA_ALLOWED:
            raise CommandError("Demo data is never loaded with these settings (DEMO_DATA_ALLOWED is off).")
        if Customer.objects.exists():
            if if_empty:
                self.stdout.write("Demo data: the database already has customers; keeping them.")
                return
            raise CommandError("The database already has customers; demo data is only loaded into an empty one.")
        rng = random.Random(seed)
        with transaction.atomic():
            stores = self._stores()
            members = self._customers(rng, customers, stores)
            counts = self._purchases(rng, members, stores)
            passwords = self._accounts(stores[0])
            rewards = self._rewards()
            redeemed = self._redemptions(rng, members, stores, rewards)
            # A member's card to look at (/card/), as the welcome email would give it.
            card = card_link(issue_card_key(members[0])) if members else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {len(stores)} stores, {len(members)} customers, {counts[0]} purchases, "
                f"{counts[1]} refunds and {redeemed} redemptions over the three months before this one."
            )
        )
        for username, password in passwords.items():
            self.stdout.write(f"  demo account {username!r} password: {password}")
        self.stdout.write("  (shown once; reset with `.venv/bin/python manage.py changepassword NAME`)")
        if card:
            self.stdout.write(f"  demo member {members[0].name}'s card: {card}")

    def _stores(self) -> list[Store]:
        stores = [Store.objects.get(is_default=True)]
        for code, name in STORES:
            stores.append(Store.objects.get_or_create(code=code, defaults={"name": name})[0])
        return stores

    def _customers(self, rng: random.Random, count: int, stores: list[Store]) -> list[Customer]:
        start = local_midnight(add_months(current_month(), -3))
        span = (local_midnight(current_month()) - start).total_seconds()
        members = []
        for index in range(count):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            joined = (
                start - dt.timedelta(days=rng.randint(0, 700))
                if index % 4
                else start + dt.timedelta(seconds=rng.uniform(0, span / 2))
            )
            members.append(
                enrol_customer(
                    name=f"{first} {last}",
                    email=f"{first}.{last}.{index}@example.com".lower(),
                    phone=f"555{rng.randint(0, 9_999_999):07d}",
                    home_store=rng.choice(stores),
                    date_joined=joined,
                )
            )
        return members

    def _purchases(self, rng: random.Random, members: list[Customer], stores: list[Store]) -> tuple[int, int]:
        first = local_midnight(add_months(current_month(), -3))
        end = local_midnight(current_month())
        purchases = refunds = 0
        for customer in members:
            # Most members come a few times a month; some are regulars, some never come.
            for _visit in range(rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 10, 14])):
                moment = max(first, customer.date_joined) + dt.timedelta(
                    seconds=rng.uniform(0, (end - max(first, customer.date_joined)).total_seconds())
                )
                moment = moment.replace(microsecond=0)
                amount = Decimal(str(round(rng.lognormvariate(4.0, 0.7), 2))).quantize(Decimal("0.01"))
                recorded = record_purchase(
                    customer=customer,
                    store=customer.home_store if rng.random() < 0.8 else rng.choice(stores),
                    amount=min(amount, Decimal("900.00")),
                    occurred_at=moment,
                    source=Transaction.Source.ADMIN,
                )
                purchases += 1
                if rng.random() < 0.04:
                    # A refund comes back within ten days, and within the period.
                    later = moment + dt.timedelta(
                        seconds=rng.uniform(0, max(0.0, min(10 * 86400, (end - moment).total_seconds() - 1)))
                    )
                    later = later.replace(microsecond=0)
                    part = (recorded.transaction.amount * Decimal(rng.choice(["0.25", "0.5", "1"]))).quantize(
                        Decimal("0.01")
                    )
                    if part > 0:
                        record_refund(
                            purchase=recorded.transaction,
                            amount=part,
                            occurred_at=later,
                            source=Transaction.Source.ADMIN,
                        )
                        refunds += 1
        return purchases, refunds

    def _rewards(self) -> list[Reward]:
        """A small catalog, so that the till has something to redeem."""
        return [
            save_reward(reward=Reward(name=name, points_cost=cost, benefit=benefit, amount_off=amount_off))
            for name, cost, benefit, amount_off in [
                ("Free coffee", 50, Reward.Benefit.FREE_ITEM, None),
                ("$5 off your next purchase", 100, Reward.Benefit.AMOUNT_OFF, Decimal("5.00")),
                ("Free delivery", 150, Reward.Benefit.FREE_DELIVERY, None),
            ]
        ]

    def _redemptions(self, rng: random.Random, members: list[Customer], stores: list[Store], rewards) -> int:
        """Some members spend points in the last month, after their last purchase (so their balance then covered
        it): the points liability, its redemptions and the revenue they recognise have something to show."""
        first = local_midnight(add_months(current_month(), -1))
        end = local_midnight(current_month())
        cashier = get_user_model().objects.get(username="demo-staff")
        redeemed = 0
        for customer in members:
            last = customer.transactions.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
            balance = customer_balance(customer.pk)
            affordable = [reward for reward in rewards if reward.points_cost <= balance]
            if last is None or not affordable or rng.random() >= 0.35:
                continue
            after = max(first, last)
            moment = after + dt.timedelta(seconds=rng.uniform(1, max(1.0, (end - after).total_seconds() - 1)))
            redeem(
                customer=customer,
                reward=rng.choice(affordable),
                store=customer.home_store or rng.choice(stores),
                redeemed_by=cashier,
                moment=moment.replace(microsecond=0),
            )
            redeemed += 1
        return redeemed

    def _accounts(self, store: Store) -> dict[str, str]:
        User = get_user_model()
        passwords = {}
        for username, group, first_name in [
            ("demo-owner", "Owners", "Olivia"),
            ("demo-manager", "Managers", "Morgan"),
            ("demo-staff", "Store staff", "Sam"),
        ]:
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(
                username=username,
                password=password,
                first_name=first_name,
                # The admin is for owners and managers; store staff work at the till.
                is_staff=group != "Store staff",
                email=f"{username}@example.com",
            )
            user.groups.add(Group.objects.get(name=group))
            passwords[username] = password
        return passwords
