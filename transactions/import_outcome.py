"""How an import's result is told, the same way wherever the import ran: the command's summary, the upload
page's, and the audit trail's record of it (file, rows, outcome)."""

from __future__ import annotations

from typing import Any

from .importing import ImportResult


def outcome(result: ImportResult) -> str:
    if not result.ok:
        return f"refused: {result.error_count} bad row{'s' if result.error_count != 1 else ''}, nothing written"
    return "dry run: nothing written" if result.dry_run else "imported"


def figures(result: ImportResult) -> list[tuple[str, int]]:
    """The summary's lines, in order: what was (or, on a dry run, would be) written."""
    return [
        ("rows read", result.rows_read),
        ("purchases written", result.purchases_written),
        ("refunds written", result.refunds_written),
        ("duplicates skipped", result.duplicates_skipped),
        ("customers enrolled", result.customers_enrolled),
        ("points awarded", result.points_awarded),
    ]


def audit_detail(result: ImportResult) -> dict[str, Any]:
    """What the audit trail keeps of an import's result (beside the file it names)."""
    return {"outcome": outcome(result), **{label.replace(" ", "_"): value for label, value in figures(result)}}
