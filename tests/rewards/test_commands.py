"""The daily commands of the rewards app (rewards/management/commands)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rewards.models import PointsEntry

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("command", ["award_birthday_bonuses", "expire_points", "review_tiers"])
def test_the_daily_commands_refuse_a_bad_date_and_change_nothing(command):
    before = PointsEntry.objects.count()
    with pytest.raises(CommandError, match=r"--date: must be YYYY-MM-DD, not '2025-02-30'"):
        call_command(command, "--date", "2025-02-30", stdout=StringIO())
    assert PointsEntry.objects.count() == before
