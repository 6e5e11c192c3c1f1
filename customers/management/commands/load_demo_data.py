"""Load the demo data set on an empty database: a shop as it looks after a quarter of use.

Three stores; a demo owner, manager and store-staff account; a program with a "Double points Tuesdays"
promotion, a stamp card and an enrolment bonus in force over the period, two tiers and a small rewards
catalog; a few hundred members (fictional phone numbers), three full months of purchases ending with last
month, recorded at the till by the demo staff (and now and then the manager), a few refunds, redemptions
and adjustments (one waiting for a second manager), a scheduled expiry rule, and a draft promotion for the
what-if simulator. Everything goes through the services, as at the till.

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
from rewards import engine
from rewards.calendar import add_months
from rewards.local_time import current_month, local_midnight
from rewards.models import ExpiryPolicy, Reward, Tier
from rewards.selectors import affordable_rewards, customer_balance, default_program
from rewards.services.adjustments import request_adjustment
from rewards.services.expiry import set_expiry_policy
from rewards.services.program import publish_rule_version, save_draft
from rewards.services.redemption import redeem, save_reward
from rewards.services.tiers import save_tier
from transactions.models import Store, TillSettings, Transaction
from transactions.services import record_purchase, record_refund

# Fictional North American numbers (555-0100 to 555-0199) in a few area codes: valid, and nobody's.
AREA_CODES = (212, 312, 415, 503, 617, 646, 702, 718, 917, 971)

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
            passwords, people = self._accounts(stores[0])
            self._program(people["demo-manager"])
            rewards = self._rewards()
            members = self._customers(rng, customers, stores, enrolled_by=people["demo-staff"])
            counts = self._purchases(rng, members, stores, people)
            redeemed = self._redemptions(rng, members, stores, rewards, people["demo-staff"])
            self._after_the_quarter(rng, members, stores[0], people)
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
        if card:
            self.stdout.write(f"  demo member {members[0].name}'s card: {card}")
        self.stdout.write("  (shown once; reset with `.venv/bin/python manage.py changepassword NAME`)")

    def _stores(self) -> list[Store]:
        stores = [Store.objects.get(is_default=True)]
        for code, name in STORES:
            stores.append(Store.objects.get_or_create(code=code, defaults={"name": name})[0])
        return stores

    def _program(self, manager) -> None:
        """The rule in force over the period (the classic bands with a Tuesday promotion, a stamp card and an
        enrolment bonus), two tiers, and an expiry rule from next month."""
        program = default_program()
        first = add_months(current_month(), -3)
        rule = engine.Rule.from_dict(
            engine.CLASSIC_RULE.to_dict()
            | {
                "promotions": [
                    {
                        "name": "Double points Tuesdays",
                        "kind": "multiplier",
                        "multiplier": "2",
                        "starts": first.isoformat(),
                        "ends": add_months(first, 12).isoformat(),
                        "weekdays": [1],
                    }
                ],
                "stamp_card": {"every": 10, "bonus": 50},
                "bonuses": {"enrolment": 25, "birthday": 50, "referral": 100},
            }
        )
        publish_rule_version(
            program=program,
            rule=rule,
            effective_from=local_midnight(first) - dt.timedelta(days=1),
            published_by=manager,
            note="Tuesdays double, stamp card, welcome bonus",
        )
        for rank, (name, threshold, multiplier) in enumerate([("Silver", 500, "1.25"), ("Gold", 1500, "1.5")], 1):
            save_tier(
                tier=Tier(program=program, name=name, rank=rank, threshold=threshold, multiplier=Decimal(multiplier))
            )
        set_expiry_policy(program=program, kind=ExpiryPolicy.Kind.AFTER_MONTHS, months=24, changed_by=manager)

    def _customers(self, rng: random.Random, count: int, stores: list[Store], *, enrolled_by) -> list[Customer]:
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
                    phone=f"+1{AREA_CODES[index // 100 % len(AREA_CODES)]}5550{100 + index % 100}",
                    home_store=rng.choice(stores),
                    date_joined=joined,
                    enrolled_by=enrolled_by,
                )
            )
        return members

    def _purchases(self, rng: random.Random, members: list[Customer], stores: list[Store], people) -> tuple[int, int]:
        """Purchases at the till by the demo staff (a manager now and then), each through record_purchase."""
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
                cashier = people["demo-manager"] if rng.random() < 0.1 else people["demo-staff"]
                recorded = record_purchase(
                    customer=customer,
                    store=customer.home_store if rng.random() < 0.8 else rng.choice(stores),
                    amount=min(amount, Decimal("900.00")),
                    occurred_at=moment,
                    recorded_by=cashier,
                    source=Transaction.Source.TILL,
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
                            recorded_by=people["demo-staff"],
                            source=Transaction.Source.TILL,
                            reason=rng.choice(["Changed their mind", "Damaged item", "Wrong size", ""]),
                        )
                        refunds += 1
        return purchases, refunds

    def _after_the_quarter(self, rng: random.Random, members: list[Customer], store: Store, people) -> None:
        """This month so far: a few redemptions at the till, a goodwill adjustment, a large one
        waiting for a second manager, and a draft "×2 Mondays" for the what-if simulator."""
        staff, manager = people["demo-staff"], people["demo-manager"]
        for customer in rng.sample(members, min(len(members), max(1, len(members) // 8))):
            rewards = list(affordable_rewards(customer.pk, balance=customer_balance(customer.pk)))
            if rewards:
                redeem(customer=customer, reward=rng.choice(rewards), store=store, redeemed_by=staff)
        if members:
            request_adjustment(
                customer=members[0], points=40, reason="Goodwill: long wait at the till", requested_by=manager
            )
            # Over the approval threshold: it waits for a second manager (the owner, in the demo).
            request_adjustment(
                customer=members[-1],
                points=default_program().adjustment_approval_threshold + 100,
                reason="Points from a lost card under an old member number",
                requested_by=manager,
            )
        next_month = add_months(current_month(), 1)
        in_force = default_program().versions.order_by("-effective_from").first().rule
        draft = in_force | {
            "promotions": [
                *in_force.get("promotions", []),
                {
                    "name": "Double points Mondays",
                    "kind": "multiplier",
                    "multiplier": "2",
                    "starts": next_month.isoformat(),
                    "ends": add_months(next_month, 1).isoformat(),
                    "weekdays": [0],
                }
            ]
        }
        save_draft(program=default_program(), rule=engine.Rule.from_dict(draft), author=manager)

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

    def _redemptions(self, rng: random.Random, members: list[Customer], stores: list[Store], rewards, cashier) -> int:
        """Some members spend points in the last month, after their last purchase (so their balance then covered
        it): the points liability, its redemptions and the revenue they recognise have something to show."""
        first = local_midnight(add_months(current_month(), -1))
        end = local_midnight(current_month())
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

    def _accounts(self, store: Store) -> tuple[dict[str, str], dict]:
        """The demo accounts (passwords printed once) and the demo staff's till, at the default store."""
        User = get_user_model()
        passwords, people = {}, {}
        for username, group, first_name in [
            ("demo-owner", "Owners", "Olivia"),
            ("demo-manager", "Managers", "Morgan"),
            ("demo-staff", "Store staff", "Sam"),
        ]:
            if existing := User.objects.filter(username=username).first():
                people[username] = existing
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
            people[username] = user
        TillSettings.objects.get_or_create(user=people["demo-staff"], defaults={"store": store})
        return passwords, people
