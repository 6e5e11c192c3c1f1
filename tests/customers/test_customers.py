import pytest
from django.core.exceptions import ValidationError

from customers.selectors import find_customers
from customers.services import enrol_customer, generate_member_number, luhn_check_digit
from tests.factories import CustomerFactory


def test_generated_member_numbers_carry_a_luhn_check_digit():
    for _ in range(50):
        number = generate_member_number()
        assert len(number) == 10 and number.isdigit() and number[0] != "0"
        assert luhn_check_digit(number[:-1]) == number[-1]


def test_luhn_check_digit_known_value():
    assert luhn_check_digit("7992739871") == "3"


@pytest.mark.django_db
def test_enrolment_validates_and_generates_a_member_number():
    customer = enrol_customer(name="  Ann Example ", phone="(212) 555-0130")
    assert customer.name == "Ann Example"
    assert customer.phone == "+12125550130"
    assert len(customer.member_number) == 10
    with pytest.raises(ValidationError) as error:
        enrol_customer(name="Bob", member_number=customer.member_number)
    assert "member_number" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        enrol_customer(name="", email="not-an-email")
    assert set(error.value.message_dict) == {"name", "email"}


@pytest.mark.django_db
class TestFindCustomers:
    def test_by_member_number_phone_or_email_exactly(self):
        ann = CustomerFactory(member_number="M100", name="Ann Lee", phone="+12125550130", email="ann@example.com")
        CustomerFactory(member_number="M1001", name="Ann Other")
        assert find_customers("m100") == [ann]
        assert find_customers("(212) 555-0130") == [ann]
        assert find_customers("ANN@example.com") == [ann]

    def test_by_part_of_a_name_returns_every_match(self):
        ann = CustomerFactory(name="Ann Lee")
        anna = CustomerFactory(name="Anna Berg")
        CustomerFactory(name="Bob Stone")
        assert set(find_customers("ann")) == {ann, anna}
        assert find_customers("nobody") == []
        assert find_customers("   ") == []
