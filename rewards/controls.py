"""The controls that protect the books, and who may loosen them.

A policy change that weakens a control is for owners only: raising the size of adjustment a manager may
post alone (above it a second manager approves), or letting refunds take balances below zero. Managers
may tighten either. The policy service (`save_program_policies`) asks here before it writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loyalty_site.access import is_owner

from .models import Program

# field -> (does this change weaken the control?, why it is the owners')
WEAKENS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "adjustment_approval_threshold": (
        lambda before, after: after > before,
        "Only an owner raises the approval threshold: above it, a second manager must approve an adjustment.",
    ),
    "negative_balance_policy": (
        lambda before, after: after == Program.NegativeBalance.ALLOW and before != Program.NegativeBalance.ALLOW,
        "Only an owner lets refunds take a balance below zero.",
    ),
}


class ControlWeakeningRefused(PermissionError):
    """A manager (not an owner) tried to loosen a control. `field` names the setting, for the form."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def policy_changes(*, program: Program, changed_by, settings: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The changes `settings` makes to the program as stored, `{field: (before, after)}`, once it is sure
    that `changed_by` may make them (ControlWeakeningRefused otherwise). Read from the database: the
    instance in hand may already carry the new values (a ModelForm's validation sets them)."""
    stored = Program.objects.get(pk=program.pk)
    changes = {
        name: (getattr(stored, name), value) for name, value in settings.items() if getattr(stored, name) != value
    }
    for name, (before, after) in changes.items():
        weakens, why = WEAKENS.get(name, (lambda before, after: False, ""))
        if weakens(before, after) and not is_owner(changed_by):
            raise ControlWeakeningRefused(name, why)
    return changes
