"""The merchant's switches for the members' side (one row per program, created with its defaults)."""

from __future__ import annotations

import audit
from rewards.selectors import default_program

from ..models import MailKind, MemberSettings


def member_settings() -> MemberSettings:
    """The default program's switches (one query); their defaults until a manager first saves them."""
    found = MemberSettings.objects.filter(program__is_default=True).select_related("program").first()
    return found if found is not None else MemberSettings(program=default_program())


def save_member_settings(
    *, join_open: bool, feedback_interval_days: int, mail_off: list[str], changed_by, request=None
) -> MemberSettings:
    """Save the switches and record what changed in the audit trail (who, before → after)."""
    current = member_settings()
    mail_off = sorted(kind for kind in mail_off if kind in MailKind.values)
    changes = {
        name: (getattr(current, name), value)
        for name, value in (
            ("join_open", join_open),
            ("feedback_interval_days", feedback_interval_days),
            ("mail_off", mail_off),
        )
        if getattr(current, name) != value
    }
    if not changes:
        return current
    for name, (_before, after) in changes.items():
        setattr(current, name, after)
    current.changed_by = changed_by
    current.save()
    audit.record(audit.Event.MEMBER_SETTINGS_CHANGED, actor=changed_by, request=request, target=current.program,
                 changes=changes)  # fmt: skip
    return current
