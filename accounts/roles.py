"""The three roles, as the groups that migrations create. The names are the groups' names."""

from django.db import models


class Role(models.TextChoices):
    STORE_STAFF = "Store staff", "Store staff"
    MANAGER = "Managers", "Manager"
    OWNER = "Owners", "Owner"


def role_of(user) -> Role | None:
    """The highest role a user holds (a superuser is an owner), from the groups already loaded."""
    if user.is_superuser:
        return Role.OWNER
    names = {group.name for group in user.groups.all()}
    for role in (Role.OWNER, Role.MANAGER, Role.STORE_STAFF):
        if role.value in names:
            return role
    return None
