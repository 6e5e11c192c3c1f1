"""A manager imports transaction files in the browser, with the real background worker (tests/worker.py): a
file with one bad line shows the line and writes nothing; a good file shows its progress, then the summary."""

import csv
import io

from playwright.sync_api import expect

from customers.models import Customer
from tests.factories import ManagerFactory
from tests.imports.conftest import GOOD_ROWS, HEADER
from transactions.models import Transaction

ONE_BAD_LINE = "C1,Ann Lee,R1,120.00,2025-01-31,,,\nC2,Bob Ray,R2,7x.00,2025-02-01,,,\nC3,,R3,60.00,2025-02-02,,,\n"
WORKER_WAIT = 30_000  # ms: the worker's first task includes its start


def upload(page, path, *, label="Transaction file (CSV)"):
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
    page.get_by_role("navigation", name="Integrations").get_by_role("link", name="Import transactions").click()
    page.get_by_label(label).set_input_files(path)
    page.get_by_role("button", name="Upload and import").click()


def test_a_bad_line_is_shown_and_nothing_written_then_a_good_file_shows_progress_and_its_summary(
    page, sign_in, worker, tmp_path
):
    sign_in(ManagerFactory())
    worker.start()
    bad = tmp_path / "january.csv"
    bad.write_text(HEADER + ONE_BAD_LINE)
    upload(page, bad)
    outcome = page.get_by_role("heading", name="1 bad line in 3 rows: nothing was written")
    expect(outcome).to_be_visible(timeout=WORKER_WAIT)
    bad_lines = page.get_by_role("table", name="Bad lines").get_by_role("row")
    expect(bad_lines).to_have_count(2)  # the header and the one bad line
    expect(bad_lines.nth(1)).to_have_accessible_name("line 3 Amount must be a number like 12.50, not '7x.00'")
    assert not Transaction.objects.exists() and not Customer.objects.exists()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the error report (CSV)").click()
    report = list(csv.reader(io.StringIO(download.value.path().read_text())))
    assert download.value.suggested_filename == "january-errors.csv"
    assert report[1][:2] == ["3", "error"] and "7x.00" in report[1][2]

    # The worker is busy elsewhere: the page shows the import waiting, then, once the worker takes it, the
    # outcome without a reload by hand.
    worker.stop()
    good = tmp_path / "february.csv"
    good.write_text(HEADER + GOOD_ROWS)
    upload(page, good)
    progress = page.locator("#import-progress")
    expect(progress).to_contain_text("Waiting for the worker to start the import…")
    expect(progress.get_by_role("progressbar")).to_be_visible()
    expect(page.locator("#job-status")).to_have_text("Waiting for the worker")
    worker.start()
    expect(page.get_by_role("heading", name="Import complete")).to_be_visible(timeout=WORKER_WAIT)
    summary = page.get_by_role("table", name="Summary")
    for row in ("Rows read 2", "Purchases written 2", "Customers enrolled 2", "Points awarded +115"):
        expect(summary.get_by_role("row", name=row)).to_be_visible()
    assert Transaction.objects.count() == 2
    assert page.locator("#import-progress").count() == 0
