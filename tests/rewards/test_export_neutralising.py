"""Exports never hand a spreadsheet a live formula, full-width formula characters included (＝ ＋ － ＠):
the page's CSV and XLSX, and `points_report`'s CSV, all through rewards.exports.neutralise_formula.
Each export is recorded in the audit trail (who downloaded what)."""

import csv
import io

import openpyxl
import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from rewards.exports import neutralise_formula
from tests.factories import CustomerFactory, at, purchase

pytestmark = pytest.mark.django_db

FULL_WIDTH = ["＝1+2", "＋SUM(A1:A9)", "－1+2", "＠cmd"]


@pytest.mark.parametrize("value", FULL_WIDTH)
def test_full_width_formula_starts_are_neutralised(value):
    assert neutralise_formula(value) == "'" + value


@pytest.fixture
def formula_names():
    for n, name in enumerate(FULL_WIDTH):
        purchase(CustomerFactory(member_number=f"F{n}", name=name), "75.00", when=at(2025, 1, 10))


def test_the_page_exports_write_full_width_formulas_inert_and_are_recorded(manager_client, manager, formula_names):
    query = {"start": "2025-01", "months": "1", "sort": "member_number"}
    response = manager_client.get("/reports/points/", {**query, "_export": "csv"})
    names = [row[1] for row in csv.reader(io.StringIO(response.content.decode()))][1:-1]  # the last: totals
    assert names == ["'" + name for name in FULL_WIDTH]

    xlsx = manager_client.get("/reports/points/", {**query, "_export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [row[1].value for row in sheet.iter_rows(min_row=2)][:-1] == ["'" + name for name in FULL_WIDTH]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)

    exports = AuditEvent.objects.filter(event="export").order_by("id")
    assert [(event.actor, event.additional_data["file"]) for event in exports] == [
        (manager, "monthly-points-2025-01-1m.csv"),
        (manager, "monthly-points-2025-01-1m.xlsx"),
    ]
    assert exports[0].additional_data["filters"] == "start=2025-01&months=1&sort=member_number"


def test_points_report_writes_full_width_formulas_inert_and_is_recorded(formula_names):
    out = io.StringIO()
    call_command("points_report", "--start", "2025-01", "--months", "1", stdout=out)
    names = [row[1] for row in csv.reader(io.StringIO(out.getvalue()))][1:]
    assert names == ["'" + name for name in FULL_WIDTH]
    event = AuditEvent.objects.get(event="export")
    assert event.additional_data["command"] == "points_report"
    assert event.additional_data["output"] == "standard output"
    assert event.actor_username.endswith("(command line)")
