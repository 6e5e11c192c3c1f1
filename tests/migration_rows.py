"""The rows the data migrations make, put back for tests on a transactional database.

A transactional test (the browser tests' live server, a race between two requests) empties the
database when it ends; only content types and permissions come back (post_migrate). A later
transactional test would find no roles, no default store and no rule version.

(serialized_rollback cannot do it while other transactional tests flush without it: their flush
re-creates the content types that the serialized copy would insert again.)
"""

import importlib

from django.apps import apps
from django.contrib.auth.models import Group, Permission

from rewards.models import Program
from rewards.services.valuation import start_point_values


def restore_migration_rows() -> None:
    """Idempotent: creates what is missing, using the migrations' own functions and lists, in their order."""
    default_store = importlib.import_module("transactions.migrations.0002_default_store")
    default_program = importlib.import_module("rewards.migrations.0002_default_program_classic_rule")
    roles = importlib.import_module("rewards.migrations.0003_roles_store_staff_and_managers")
    narrower_roles = importlib.import_module(
        "accounts.migrations.0002_owners_role_and_narrower_manager_and_staff_rights"
    )
    default_store.create_default_store(apps, None)
    default_program.create_default_program(apps, None)
    # rewards 0015: the program's point value is a history whose first version the migration made.
    for program in Program.objects.filter(point_values__isnull=True):
        start_point_values(program=program)

    def permission(app_label: str, codename: str) -> Permission:
        return Permission.objects.get(content_type__app_label=app_label, codename=codename)

    staff, _ = Group.objects.get_or_create(name=roles.STORE_STAFF)
    staff.permissions.set([permission(app, code) for app, code in roles.STAFF_PERMISSIONS])
    managers, _ = Group.objects.get_or_create(name=roles.MANAGERS)
    managers.permissions.set(
        list(Permission.objects.filter(content_type__app_label__in=roles.MANAGER_APPS))
        + [permission(app, code) for app, code in roles.MANAGER_EXTRA]
    )
    narrower_roles.define_roles(apps)
