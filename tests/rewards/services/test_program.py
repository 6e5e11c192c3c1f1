"""Drafts and publishing rule versions (rewards.services.program): history is never rewritten."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from rewards import engine
from rewards.models import ProgramDraft
from rewards.selectors import default_program, rule_version_at
from rewards.services.program import PublishRefused, publish_draft, save_draft
from tests.factories import CustomerFactory, ManagerFactory, at, publish, purchase, with_promotion

pytestmark = pytest.mark.django_db


# --- drafts and publishing --------------------------------------------------------------------------


def test_publishing_a_draft_now_or_later_but_never_in_the_past():
    manager = ManagerFactory()
    program = default_program()
    draft = save_draft(
        program=program,
        rule=engine.Rule.from_dict(with_promotion(starts="2025-01-01", ends="2030-12-31")),
        author=manager,
    )
    with pytest.raises(PublishRefused, match="past"):
        publish_draft(draft=draft, published_by=manager, effective_from=timezone.now() - dt.timedelta(hours=1))
    assert ProgramDraft.objects.exists()
    later = timezone.now() + dt.timedelta(days=7)
    version = publish_draft(draft=draft, published_by=manager, effective_from=later, note="spring")
    assert (version.effective_from, version.published_by, version.note) == (later, manager, "spring")
    assert version.rule == draft.rule
    assert not ProgramDraft.objects.exists()
    second = save_draft(program=program, rule=engine.CLASSIC_RULE, author=manager)
    before = timezone.now()
    now_version = publish_draft(draft=second, published_by=manager)
    assert before <= now_version.effective_from <= timezone.now()
    assert rule_version_at(timezone.now()) == now_version


def test_old_entries_are_never_edited_by_publishing():
    customer = CustomerFactory()
    bought = purchase(customer, "120.00", when=at(2025, 3, 4))
    publish({"bands": [{"threshold": 0, "rate": "10"}]}, timezone.now())
    bought.entry.refresh_from_db()
    assert bought.entry.points == 90
    assert Decimal(bought.entry.detail["amount"]) == Decimal("120.00")
