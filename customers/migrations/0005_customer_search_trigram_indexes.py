"""Trigram indexes for the search by part of a name, email, member number or phone (PostgreSQL only).

pg_trgm is a trusted extension since PostgreSQL 13: the database's owner creates it, no superuser needed.
On SQLite the extension and the indexes are nothing (loyalty_site.indexes.TrigramOnPostgresIndex).
"""

import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

import loyalty_site.indexes


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_customer_number_lower_idx"),
        ("transactions", "0006_occurred_at_brin_on_postgresql"),
    ]

    operations = [
        TrigramExtension(),
        migrations.AddIndex(
            model_name="customer",
            index=loyalty_site.indexes.TrigramOnPostgresIndex(
                django.db.models.functions.text.Upper("name"), name="customer_name_trgm_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=loyalty_site.indexes.TrigramOnPostgresIndex(
                django.db.models.functions.text.Upper("email"), name="customer_email_trgm_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=loyalty_site.indexes.TrigramOnPostgresIndex(
                django.db.models.functions.text.Upper("member_number"), name="customer_number_trgm_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=loyalty_site.indexes.TrigramOnPostgresIndex(models.F("phone"), name="customer_phone_trgm_idx"),
        ),
    ]
