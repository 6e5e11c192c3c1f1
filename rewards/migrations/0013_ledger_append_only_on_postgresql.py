"""The ledger is append-only in the database too: on PostgreSQL a trigger refuses UPDATE and DELETE of
points entries (loyalty_site/append_only.py says why a trigger, and why PostgreSQL only)."""

from django.db import migrations

from loyalty_site.append_only import append_only


class Migration(migrations.Migration):
    dependencies = [("rewards", "0012_default_program_in_force_since_1900")]

    operations = [append_only("rewards_pointsentry")]
