"""Create the default program carrying the classic rule, in force since the beginning of time.

Classic rule: 1 point per whole dollar over 50 and up to 100, plus 2 points per whole dollar over 100.
"""

import datetime

from django.db import migrations

CLASSIC_RULE = {"bands": [{"threshold": 50, "rate": "1"}, {"threshold": 100, "rate": "2"}]}
# The earliest moment a merchant can have records (it was 2000-01-01 before 0012 moved it back).
BEGINNING = datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)


def create_default_program(apps, schema_editor):
    Program = apps.get_model("rewards", "Program")
    RuleVersion = apps.get_model("rewards", "RuleVersion")
    if Program.objects.filter(is_default=True).exists():
        return
    program = Program.objects.create(name="Rewards", is_default=True)
    RuleVersion.objects.create(
        program=program, effective_from=BEGINNING, rule=CLASSIC_RULE, note="Classic rule (created at install)"
    )


def remove_default_program(apps, schema_editor):
    Program = apps.get_model("rewards", "Program")
    RuleVersion = apps.get_model("rewards", "RuleVersion")
    for program in Program.objects.filter(is_default=True, versions__entries__isnull=True).distinct():
        RuleVersion.objects.filter(program=program).delete()
        program.delete()


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial")]

    operations = [migrations.RunPython(create_default_program, remove_default_program)]
