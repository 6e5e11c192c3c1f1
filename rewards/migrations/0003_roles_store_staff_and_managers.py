"""Create the two roles as groups with their permissions.

Store staff: record transactions and refunds at the till, look customers up and enrol them, read
the ledger. Managers: everything in the loyalty apps, reports and program rules, and user management.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

STORE_STAFF = "Store staff"
MANAGERS = "Managers"

STAFF_PERMISSIONS = [
    ("customers", "view_customer"),
    ("customers", "add_customer"),
    ("customers", "change_customer"),
    ("transactions", "view_store"),
    ("transactions", "view_transaction"),
    ("transactions", "add_transaction"),
    ("transactions", "use_till"),
    ("rewards", "view_pointsentry"),
]
MANAGER_APPS = ["customers", "transactions", "rewards"]
MANAGER_EXTRA = [
    ("auth", "view_user"),
    ("auth", "add_user"),
    ("auth", "change_user"),
    ("auth", "view_group"),
]


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations have run; create them now so the groups
    # can hold them on a fresh database.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permission(app_label, codename):
        return Permission.objects.get(content_type__app_label=app_label, codename=codename)

    staff, _ = Group.objects.get_or_create(name=STORE_STAFF)
    staff.permissions.set([permission(app, code) for app, code in STAFF_PERMISSIONS])

    managers, _ = Group.objects.get_or_create(name=MANAGERS)
    managers.permissions.set(
        list(Permission.objects.filter(content_type__app_label__in=MANAGER_APPS))
        + [permission(app, code) for app, code in MANAGER_EXTRA]
    )


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=[STORE_STAFF, MANAGERS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0002_default_program_classic_rule"),
        ("customers", "0002_customer_home_store"),
        ("transactions", "0002_default_store"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
