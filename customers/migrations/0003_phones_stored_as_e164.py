"""Phones stored before they were validated become E.164 ("+12125550123") where they are a valid number in
LOYALTY_PHONE_REGION (or carry their own country code), so that a look-up by any typed form finds them.

Phones that are not a valid number are left exactly as they were (the till still finds them by their digits);
staff correct them from the till. Going backwards leaves the E.164 forms: they are the same numbers.
"""

import phonenumbers
from django.conf import settings
from django.db import migrations

BATCH = 2000


def to_e164(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    region = settings.LOYALTY_PHONE_REGION
    changed = []
    for customer in Customer.objects.exclude(phone="").only("pk", "phone").iterator(chunk_size=BATCH):
        try:
            number = phonenumbers.parse(customer.phone, region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 != customer.phone:
            customer.phone = e164
            changed.append(customer)
        if len(changed) >= BATCH:
            Customer.objects.bulk_update(changed, ["phone"])
            changed = []
    Customer.objects.bulk_update(changed, ["phone"])


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_customer_home_store")]

    operations = [migrations.RunPython(to_e164, migrations.RunPython.noop, elidable=True)]
