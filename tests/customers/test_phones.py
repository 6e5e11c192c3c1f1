"""Phones: validated in the merchant's region, stored as E.164, found whatever way staff type them, never shared."""

import importlib

import pytest
from django.apps import apps as global_apps
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from customers.models import Customer
from customers.phones import display_phone, normalise_phone, phone_ending, stored_forms
from customers.selectors import find_customers
from customers.services import correct_contact, enrol_customer
from tests.factories import CustomerFactory, fictional_phone


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("(212) 555-0123", "+12125550123"),
        ("212.555.0123", "+12125550123"),
        ("+1 212 555 0123", "+12125550123"),
        ("  2125550123 ", "+12125550123"),
        ("+44 20 7946 0018", "+442079460018"),
        ("", ""),
    ],
)
def test_a_typed_phone_is_stored_in_one_form(typed, stored):
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize("typed", ["abc", "123", "555-010-2030", "+1 999 555 0123", "12345678901234567890"])
def test_what_is_not_a_valid_number_is_refused_beside_the_phone(typed):
    with pytest.raises(ValidationError) as refusal:
        normalise_phone(typed)
    assert refusal.value.message_dict["phone"] == [
        "Type a phone number like (201) 555-0123: this one is not a valid number."
    ]


def test_the_region_comes_from_the_settings(settings):
    settings.LOYALTY_PHONE_REGION = "GB"
    assert normalise_phone("020 7946 0018") == "+442079460018"
    assert display_phone("+442079460018") == "020 7946 0018"
    assert display_phone("+12125550123") == "+1 212-555-0123"


def test_stored_phones_read_as_people_write_them():
    assert display_phone("+12125550123") == "(212) 555-0123"
    assert display_phone("+442079460018") == "+44 20 7946 0018"
    assert display_phone("ext. 12") == "ext. 12"  # left as it was stored
    assert phone_ending("+12125550123") == "0123"
    assert stored_forms("(212) 555-0123") == ["+12125550123", "2125550123"]
    assert stored_forms("12") == []


@pytest.mark.django_db
class TestEnrolment:
    def test_refuses_abc_and_stores_nothing(self):
        with pytest.raises(ValidationError) as refusal:
            enrol_customer(name="Ann", phone="abc")
        assert "phone" in refusal.value.message_dict
        assert not Customer.objects.exists()

    def test_refuses_a_phone_that_belongs_to_another_member_in_any_form(self):
        ann = enrol_customer(name="Ann Lee", phone="212-555-0123")
        with pytest.raises(ValidationError) as refusal:
            enrol_customer(name="Bob Lee", phone="+1 (212) 555 0123")
        assert refusal.value.message_dict["phone"] == [
            f"(212) 555-0123 already belongs to member {ann.member_number} (Ann Lee)."
        ]
        assert refusal.value.error_dict["phone"][0].code == "phone_taken"
        assert Customer.objects.count() == 1
        assert find_customers("2125550123") == [ann]


@pytest.mark.django_db
class TestLookUp:
    @pytest.mark.parametrize("typed", ["(212) 555-0123", "212 555 0123", "+12125550123", "1-212-555-0123", "0123"])
    def test_any_typed_form_finds_the_member(self, typed):
        ann = CustomerFactory(name="Ann Lee", phone="+12125550123")
        CustomerFactory(name="Bob Stone", phone="+13125550199")
        assert find_customers(typed) == [ann]

    def test_a_phone_stored_before_validation_is_still_found_by_its_digits(self):
        legacy = CustomerFactory(name="Old Record", phone="5550102030")
        assert find_customers("(555) 010-2030") == [legacy]


@pytest.mark.django_db
class TestCorrectContact:
    def test_corrects_the_phone_and_records_who_changed_what(self, staff):
        ann = CustomerFactory(name="Ann Lee", phone=fictional_phone(5), email="ann@example.com")
        changes = correct_contact(
            customer=ann, changed_by=staff, name="Ann Lee", phone="(646) 555-0111", email="ann.lee@example.com"
        )
        ann.refresh_from_db()
        assert ann.phone == "+16465550111" and ann.email == "ann.lee@example.com"
        assert changes == {
            "phone": (fictional_phone(5), "+16465550111"),
            "email": ("ann@example.com", "ann.lee@example.com"),
        }
        event = AuditEvent.objects.get(event="contact_corrected")
        assert event.actor == staff
        assert event.object_pk == str(ann.pk)
        assert event.changes == {
            "phone": [fictional_phone(5), "+16465550111"],
            "email": ["ann@example.com", "ann.lee@example.com"],
        }

    def test_refuses_another_members_phone_and_changes_nothing(self, staff):
        ann = CustomerFactory(phone="+12125550123")
        bob = CustomerFactory(phone="+13125550199", email="bob@example.com")
        with pytest.raises(ValidationError) as refusal:
            correct_contact(customer=bob, changed_by=staff, name=bob.name, phone="212 555 0123", email="b@example.com")
        assert ann.member_number in refusal.value.message_dict["phone"][0]
        bob.refresh_from_db()
        assert (bob.phone, bob.email) == ("+13125550199", "bob@example.com")
        assert not AuditEvent.objects.filter(event="contact_corrected").exists()

    def test_nothing_changed_writes_nothing(self, staff):
        ann = CustomerFactory(phone="+12125550123")
        unchanged = correct_contact(
            customer=ann, changed_by=staff, name=ann.name, phone="(212) 555-0123", email=ann.email
        )
        assert unchanged == {}
        assert not AuditEvent.objects.filter(event="contact_corrected").exists()


@pytest.mark.django_db
def test_the_data_migration_normalises_valid_phones_and_leaves_the_rest():
    migration = importlib.import_module("customers.migrations.0003_phones_stored_as_e164")
    typed = CustomerFactory(phone="(212) 555-0123")
    plain = CustomerFactory(phone="4155550188")
    foreign = CustomerFactory(phone="+44 20 7946 0018")
    unparseable = CustomerFactory(phone="call the shop")
    invalid = CustomerFactory(phone="5550102030")
    empty = CustomerFactory(phone="")

    migration.to_e164(global_apps, None)

    stored = dict(Customer.objects.values_list("pk", "phone"))
    assert stored[typed.pk] == "+12125550123"
    assert stored[plain.pk] == "+14155550188"
    assert stored[foreign.pk] == "+442079460018"
    assert stored[unparseable.pk] == "call the shop"
    assert stored[invalid.pk] == "5550102030"
    assert stored[empty.pk] == ""
