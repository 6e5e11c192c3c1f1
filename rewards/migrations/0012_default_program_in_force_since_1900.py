"""The default program's first rule version is in force from the earliest moment a merchant can have records
(1900-01-01 UTC), so that a record of any period earns: it was 2000-01-01. Backwards, a first version that
starts at 1900-01-01 goes back to 2000-01-01, where the installation put it."""

import datetime

from django.db import migrations

EARLIEST = datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)
INSTALLED = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def first_version(apps):
    RuleVersion = apps.get_model("rewards", "RuleVersion")
    return RuleVersion.objects.filter(program__is_default=True).order_by("effective_from").first()


def move_back(apps, schema_editor):
    version = first_version(apps)
    if version is not None and version.effective_from > EARLIEST:
        version.effective_from = EARLIEST
        version.save(update_fields=["effective_from"])


def move_forward(apps, schema_editor):
    version = first_version(apps)
    if version is not None and version.effective_from == EARLIEST:
        version.effective_from = INSTALLED
        version.save(update_fields=["effective_from"])


class Migration(migrations.Migration):
    dependencies = [("rewards", "0011_points_in_64_bits")]

    operations = [migrations.RunPython(move_back, move_forward)]
