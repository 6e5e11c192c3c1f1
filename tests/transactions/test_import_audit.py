"""Every import is in the audit trail: which file, how many rows, and what came of it."""

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

HEADER = "customer_id,customer_name,transaction_id,amount,occurred_at,store,kind,refund_of\n"


def test_an_import_a_dry_run_and_a_refused_file_are_each_recorded(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "C1,Ann Lee,R1,120.00,2025-01-31,,,\nC2,Bob Ray,R2,75.00,2025-02-01,,,\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "C1,,R9,abc,2025-01-31,,,\n")

    call_command("import_transactions", str(good), "--dry-run")
    call_command("import_transactions", str(good))
    with pytest.raises(CommandError):
        call_command("import_transactions", str(bad))

    dry, real, refused = AuditEvent.objects.filter(event="import").order_by("id")
    assert dry.additional_data["outcome"] == "dry run: nothing written"
    assert real.additional_data == {
        "file": str(good),
        "outcome": "imported",
        "rows_read": 2,
        "purchases_written": 2,
        "refunds_written": 0,
        "duplicates_skipped": 0,
        "customers_enrolled": 2,
        "points_awarded": 115,
    }
    assert (refused.additional_data["file"], refused.additional_data["outcome"]) == (
        str(bad),
        "refused: 1 bad row, nothing written",
    )
    assert real.actor is None and real.actor_username.endswith("(command line)")
