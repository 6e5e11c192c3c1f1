"""Trigram indexes for the search by part of a name, email, member number or phone (PostgreSQL only).

pg_trgm is a trusted extension since PostgreSQL 13: the database's owner creates it, no superuser needed.
Migrating back removes the indexes and leaves the extension (something else may use it by then). On SQLite the
extension and the indexes are nothing (loyalty_site.indexes.TrigramOnPostgresIndex); Django's TrigramExtension
is not used because migrating it back asks SQLite for pg_extension.
"""

import django.db.models.functions.text
from django.db import migrations, models

import loyalty_site.indexes


def create_pg_trgm(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_customer_number_lower_idx"),
        ("transactions", "0006_occurred_at_brin_on_postgresql"),
    ]

    operations = [
        migrations.RunPython(create_pg_trgm, migrations.RunPython.noop, elidable=False),
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
