from django.contrib.auth.models import User


class Account(User):
    """Holds the role permissions (no table of its own: a proxy of the user model). Accounts are saved
    as users, never through this proxy, so that the audit trail sees every change of them."""

    class Meta:
        proxy = True
        default_permissions = ()
        permissions = [
            ("manage_staff", "Can manage store staff accounts (managers)"),
            ("manage_accounts", "Can manage every account, group and permission (owners)"),
        ]
