"""The import pages: managers upload a file (refused at once if too large or not CSV), follow its progress,
read the outcome or every bad line, and download the error report; store staff cannot."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from imports import progress
from imports.models import ImportJob
from tests.imports.conftest import BAD_ROWS, csv_upload
from tests.pages import field_error, text_of
from transactions.models import Transaction

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/imports/", "/imports/1/", "/imports/1/status/", "/imports/1/errors.csv"])
def test_store_staff_cannot_open_the_import_pages(staff_client, url):
    assert staff_client.get(url).status_code == 403


def test_a_manager_uploads_a_file_and_reads_the_summary(manager_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post("/imports/", {"file": csv_upload()})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/"
    page = text_of(manager_client.get(response["Location"]))
    assert "Import complete" in page
    assert "Rows read 2 Purchases written 2 Refunds written 0 Duplicates skipped 0 Customers enrolled 2" in page
    assert "Points awarded +115" in page
    assert Transaction.objects.count() == 2
    assert "sales.csv" in text_of(manager_client.get("/imports/"))  # in the recent imports


def test_a_file_with_a_bad_line_shows_every_bad_line_and_writes_nothing(
    manager_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post("/imports/", {"file": csv_upload(BAD_ROWS + "C9,,R9,=1+2,2025-01-01,,,\n")})
    job = ImportJob.objects.get()
    page = text_of(manager_client.get(f"/imports/{job.pk}/"))
    assert "2 bad lines in 4 rows: nothing was written" in page
    assert "line 3 Amount must be a number like 12.50, not '7x.00'" in page
    assert "line 5 Amount must be a number like 12.50, not '=1+2'" in page
    assert not Transaction.objects.exists()

    report = manager_client.get(f"/imports/{job.pk}/errors.csv")
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert report["Content-Disposition"] == 'attachment; filename="sales-errors.csv"'
    rows = list(csv.reader(io.StringIO(report.content.decode())))
    assert rows[0] == ["line", "kind", "problem"]
    assert [(row[0], row[1]) for row in rows[1:]] == [("3", "error"), ("5", "error")]
    assert all(not row[2].startswith(("=", "+", "-", "@")) for row in rows[1:])  # safe in a spreadsheet


def test_a_dry_run_says_nothing_was_written(manager_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post("/imports/", {"file": csv_upload(), "dry_run": "on"})
    page = text_of(manager_client.get(f"/imports/{ImportJob.objects.get().pk}/"))
    assert "Dry run: nothing was written. The import would give:" in page
    assert not Transaction.objects.exists()


def test_a_file_too_large_is_refused_at_upload_beside_the_field_and_audited(manager_client, manager, settings):
    settings.LOYALTY_IMPORT_MAX_UPLOAD_MB = 1
    big = csv_upload("C1,,R1,1.00,2025-01-01,,,\n" * 60_000, name="year.csv")
    response = manager_client.post("/imports/", {"file": big})
    assert response.status_code == 400
    assert field_error(response, "file").startswith("year.csv is 1.5 MB: the largest file accepted here is 1 MB.")
    assert not ImportJob.objects.exists()
    [record] = AuditEvent.objects.filter(event="import")
    assert record.actor == manager and record.additional_data["file"] == "year.csv"
    assert record.additional_data["outcome"].startswith("refused at upload: year.csv is 1.5 MB")


def test_a_file_that_is_not_csv_is_refused_at_upload(manager_client):
    response = manager_client.post("/imports/", {"file": csv_upload(name="sales.xlsx")})
    assert response.status_code == 400
    assert "sales.xlsx is not a CSV file" in field_error(response, "file")
    response = manager_client.post("/imports/", {})
    assert field_error(response, "file") == "Choose the CSV file to import."
    assert not ImportJob.objects.exists()


def test_while_waiting_and_running_the_page_shows_progress(manager_client, uploaded):
    job = uploaded(run=False)
    page = manager_client.get(f"/imports/{job.pk}/")
    assert "Waiting for the worker to start the import…" in text_of(page)
    assert f'data-status-url="/imports/{job.pk}/status/"' in page.content.decode()
    assert manager_client.get(f"/imports/{job.pk}/status/").json() == {
        "status": "queued", "finished": False, "label": "Waiting for the worker",
        "text": "Waiting for the worker to start the import…", "fraction": 0.0,
    }  # fmt: skip

    ImportJob.objects.filter(pk=job.pk).update(status="running")
    reporter = progress.Reporter(job.pk, 1000)
    reporter.snapshot.bytes_read, reporter.snapshot.rows_read = 400, 5000
    reporter.publish()
    state = manager_client.get(f"/imports/{job.pk}/status/").json()
    assert (state["status"], state["fraction"]) == ("running", 0.4)
    assert state["text"] == "Importing: 40% of the file read, 5,000 rows checked…"
    assert 'value="0.400"' in manager_client.get(f"/imports/{job.pk}/").content.decode()


def test_the_pages_run_a_fixed_number_of_queries(manager_client, uploaded):
    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(url).status_code == 200
        return len(captured)

    refused = uploaded(BAD_ROWS)
    few = (count("/imports/"), count(f"/imports/{refused.pk}/"))
    many_bad = "".join(f"C{n},,R{n},x,2025-01-01,,,\n" for n in range(150))
    for _ in range(3):
        uploaded(many_bad)
    worse = ImportJob.objects.order_by("-pk").first()
    assert (count("/imports/"), count(f"/imports/{worse.pk}/")) == few
    # Session, user, the role's permissions (2), then the recent jobs; or the job, the bad lines' count, a
    # page of them, and the first warnings.
    assert few == (5, 8)
