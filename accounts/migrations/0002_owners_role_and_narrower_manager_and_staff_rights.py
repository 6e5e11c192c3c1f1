"""Roles that cannot be climbed.

- **Owners** (a new group; superusers count as owners too): every permission, and alone
  `accounts.manage_accounts` (accounts, groups, permissions, the controls that protect the books).
- **Managers** lose every `auth.*` permission (they could make themselves superuser in the admin, reset an
  owner's password, or create a second manager to approve their own adjustment); they gain
  `accounts.manage_staff` (the staff page: store staff accounts only) and reading the audit trail.
- **Store staff** lose adding transactions and changing customers (the admin's way around the till);
  they keep adding customers, which the till's enrolment needs. The admin lets them in no more anyway
  (loyalty_site.admin_site).
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

OWNERS = "Owners"
MANAGERS = "Managers"
STORE_STAFF = "Store staff"

AUDIT_WRITES = ["add_auditevent", "change_auditevent", "delete_auditevent"]
STAFF_REMOVED = [("customers", "change_customer"), ("transactions", "add_transaction")]
MANAGERS_ADDED = [("accounts", "manage_staff"), ("audit", "view_auditevent")]
MANAGERS_REMOVED_APP = "auth"
# What managers held of auth before (rewards 0003), given back when this migration is reversed.
MANAGERS_AUTH_BEFORE = [("auth", "view_user"), ("auth", "add_user"), ("auth", "change_user"), ("auth", "view_group")]


def _permissions(apps, pairs):
    Permission = apps.get_model("auth", "Permission")
    return [Permission.objects.get(content_type__app_label=app, codename=code) for app, code in pairs]


def define_roles(apps, schema_editor=None):
    """Idempotent (tests/migration_rows.py runs it again, with the real app registry, after a test
    empties the database)."""
    if apps is not global_apps:
        # Permissions are normally created after all migrations have run; create them now so the groups
        # can hold them on a fresh database (as rewards 0003 does).
        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, apps=apps, verbosity=0)
            app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    owners, _ = Group.objects.get_or_create(name=OWNERS)
    # Every permission but writing the audit trail, which nobody does by hand.
    owners.permissions.set(Permission.objects.exclude(content_type__app_label="audit", codename__in=AUDIT_WRITES))

    managers = Group.objects.get(name=MANAGERS)
    managers.permissions.remove(*managers.permissions.filter(content_type__app_label=MANAGERS_REMOVED_APP))
    managers.permissions.add(*_permissions(apps, MANAGERS_ADDED))

    staff = Group.objects.get(name=STORE_STAFF)
    staff.permissions.remove(*_permissions(apps, STAFF_REMOVED))


def undefine_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name=OWNERS).delete()
    managers = Group.objects.get(name=MANAGERS)
    managers.permissions.remove(*_permissions(apps, MANAGERS_ADDED))
    managers.permissions.add(*_permissions(apps, MANAGERS_AUTH_BEFORE))
    Group.objects.get(name=STORE_STAFF).permissions.add(*_permissions(apps, STAFF_REMOVED))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("audit", "0001_initial"),
        ("rewards", "0003_roles_store_staff_and_managers"),
        ("transactions", "0003_till_settings"),
        ("axes", "0010_accessattemptexpiration"),
        ("otp_totp", "0003_add_timestamps"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(define_roles, undefine_roles)]
