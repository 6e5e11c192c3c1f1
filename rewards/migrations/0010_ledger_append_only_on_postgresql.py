"""The ledger is append-only in the database too: on PostgreSQL a trigger refuses UPDATE and DELETE of
points entries (loyalty_site/append_only.py says why a trigger, and why PostgreSQL only)."""

from django.db import migrations

from loyalty_site.append_only import append_only


class Migration(migrations.Migration):
    dependencies = [("rewards", "0009_tiers_customer_tiers_and_reward_min_tier")]

    operations = [append_only("rewards_pointsentry")]
