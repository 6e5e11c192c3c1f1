"""Ledger points and the roll-up's sums in 64 bits: an expiry or a recalculation entry carries a month's sum,
and the roll-up adds up a month of entries, neither bounded by what one purchase may earn. One purchase's
entry stays within 32 bits (the program's capacity check)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("rewards", "0010_ledger_keeps_facts_and_renders_earn_explanations")]

    operations = [
        migrations.AlterField("pointsentry", "points", models.BigIntegerField()),
        *[
            migrations.AlterField("customermonthpoints", name, models.BigIntegerField(default=0))
            for name in ("earned", "reversed", "bonus", "redeemed", "expired", "adjusted")
        ],
        migrations.AlterField(
            "recalculation", "points", models.BigIntegerField(default=0, help_text="The sum of the adjustments posted.")
        ),
    ]
