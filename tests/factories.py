"""factory_boy factories for the tests. Purchases and refunds go through the services, as in the app."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from customers.models import Customer
from rewards import engine
from rewards.models import Reward, RuleVersion
from rewards.selectors import default_program
from rewards.services.program import publish_rule_version
from transactions.models import Store
from transactions.services import record_purchase, record_refund

OWNERS = "Owners"
MANAGERS = "Managers"
STORE_STAFF = "Store staff"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")
    is_staff = True

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class ManagerFactory(UserFactory):
    username = factory.Sequence(lambda n: f"manager{n}")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get(name=extracted or MANAGERS))


class OwnerFactory(UserFactory):
    username = factory.Sequence(lambda n: f"owner{n}")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get(name=extracted or OWNERS))


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get(name=extracted or STORE_STAFF))


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"store-{n}")
    name = factory.Sequence(lambda n: f"Store {n}")


# North American numbers set aside for fiction (555-0100 to 555-0199), in a few area codes: valid numbers
# that belong to nobody.
AREA_CODES = (212, 213, 305, 312, 415, 503, 617, 646, 702, 718, 917, 971)


def fictional_phone(n: int) -> str:
    """The n-th fictional phone number, stored as the product stores phones (E.164)."""
    return f"+1{AREA_CODES[n // 100 % len(AREA_CODES)]}5550{100 + n % 100}"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    member_number = factory.Sequence(lambda n: f"M{n:06d}")
    name = factory.Faker("name")
    email = factory.LazyAttribute(lambda c: f"{c.member_number.lower()}@example.com")
    phone = factory.Sequence(fictional_phone)


def default_store() -> Store:
    return Store.objects.get(is_default=True)


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """An aware moment in the merchant's TIME_ZONE."""
    return timezone.make_aware(dt.datetime(year, month, day, hour, minute), timezone.get_default_timezone())


def purchase(customer, amount: str, *, when=None, store=None, receipt: str = "", **kwargs):
    return record_purchase(
        customer=customer,
        store=store or default_store(),
        amount=Decimal(amount),
        occurred_at=when or timezone.now(),
        receipt_number=receipt,
        **kwargs,
    )


def refund(recorded, amount: str, *, when=None, **kwargs):
    return record_refund(
        purchase=recorded.transaction, amount=Decimal(amount), occurred_at=when or timezone.now(), **kwargs
    )


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reward

    program = factory.LazyFunction(default_program)
    name = factory.Sequence(lambda n: f"Reward {n}")
    points_cost = 50
    benefit = Reward.Benefit.AMOUNT_OFF
    amount_off = Decimal("5.00")


CLASSIC = engine.CLASSIC_RULE.to_dict()


def publish(rule: dict, effective_from, **kwargs) -> RuleVersion:
    """Publish a version directly (the service itself allows any moment; the pages refuse the past)."""
    return publish_rule_version(
        program=default_program(), rule=engine.Rule.from_dict(rule), effective_from=effective_from, **kwargs
    )


def with_promotion(**promotion) -> dict:
    return CLASSIC | {"promotions": [{"name": "Tuesday promotion", "multiplier": "2"} | promotion]}
