"""The program: its draft rule, publishing rule versions, and its policies.

History is never rewritten: a version starts now or later, and old versions are never edited. A rule is
saved or published only when no purchase under it could put more points on one ledger entry than it holds
(`check_rule_capacity`).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

import audit
from transactions.amounts import max_amount

from .. import engine
from ..controls import policy_changes
from ..models import Program, ProgramDraft, RuleVersion
from .tiers import highest_tier_multiplier

# A form submitted "now" reaches the service a moment later; this much is still "now".
NOW_TOLERANCE = dt.timedelta(minutes=1)


class PublishRefused(ValueError):
    """A version that would start in the past: history is never rewritten."""


def check_rule_capacity(rule: engine.Rule, program: Program) -> None:
    """Refuse (engine.RuleError naming the field) a rule under which the largest accepted purchase, with
    every promotion applied, at the program's highest tier, would earn more than one ledger entry holds;
    or whose stamp-card or bonus-action bonus is more than that."""
    engine.check_capacity(rule, max_amount=max_amount(), tier_multiplier=highest_tier_multiplier(program))


def publish_rule_version(
    *, program: Program, rule: engine.Rule, effective_from: dt.datetime, published_by=None, note: str = ""
) -> RuleVersion:
    """Publish a new rule version from `effective_from`. Earlier versions are never edited. Refused with
    engine.RuleError when the rule could earn more than one ledger entry holds."""
    check_rule_capacity(rule, program)
    version = RuleVersion.objects.create(
        program=program, effective_from=effective_from, rule=rule.to_dict(), note=note, published_by=published_by
    )
    audit.record(
        audit.Event.RULE_PUBLISHED,
        actor=published_by,
        target=version,
        detail={"effective_from": effective_from, "rule": version.rule, "note": note},
    )
    return version


def save_draft(*, program: Program, rule: engine.Rule, author) -> ProgramDraft:
    """Save (create or replace) the program's draft rule. Nothing about earning changes."""
    check_rule_capacity(rule, program)
    draft, _ = ProgramDraft.objects.update_or_create(
        program=program, defaults={"rule": rule.to_dict(), "author": author, "updated_at": timezone.now()}
    )
    return draft


def publish_draft(
    *, draft: ProgramDraft, published_by, effective_from: dt.datetime | None = None, note: str = ""
) -> RuleVersion:
    """Publish the draft as a new rule version from `effective_from` (now by default, or later; never the
    past) and remove the draft. Purchases from that moment earn by it; nothing earlier changes."""
    now = timezone.now()
    effective_from = effective_from or now
    if timezone.is_naive(effective_from):
        raise ValueError("effective_from must be timezone-aware")
    if effective_from < now - NOW_TOLERANCE:
        raise PublishRefused("A new version cannot start in the past: history is never rewritten.")
    with transaction.atomic():
        locked = ProgramDraft.objects.select_for_update().get(pk=draft.pk)
        version = publish_rule_version(
            program=locked.program,
            rule=locked.engine_rule(),
            effective_from=max(effective_from, now),
            published_by=published_by,
            note=note,
        )
        locked.delete()
    return version


def save_program_policies(*, program: Program, changed_by, **settings) -> Program:
    """Change the program's policies (see PoliciesForm's fields). Only the named fields are written.
    Loosening a control is for owners (rewards.controls: ControlWeakeningRefused); each change is recorded."""
    changes = policy_changes(program=program, changed_by=changed_by, settings=settings)
    for name, value in settings.items():
        setattr(program, name, value)
    program.full_clean()
    program.save(update_fields=list(settings))
    if changes:
        audit.record(audit.Event.POLICY_CHANGED, actor=changed_by, target=program, changes=changes)
    return program
