import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from imports.services import start_import

HEADER = "customer_id,customer_name,transaction_id,amount,occurred_at,store,kind,refund_of\n"
GOOD_ROWS = "C1,Ann Lee,R1,120.00,2025-01-31,,,\nC2,Bob Ray,R2,75.00,2025-02-01,,,\n"
BAD_ROWS = "C1,Ann Lee,R1,120.00,2025-01-31,,,\nC2,Bob Ray,R2,7x.00,2025-02-01,,,\nC3,,R3,10.00,2025-02-02,,,\n"


def csv_upload(rows: str = GOOD_ROWS, name: str = "sales.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (HEADER + rows).encode(), content_type="text/csv")


@pytest.fixture
def uploaded(manager, django_capture_on_commit_callbacks):
    """Upload a file as a manager does; its import runs at once (the test's huey is in immediate mode)."""

    def upload(rows: str = GOOD_ROWS, *, dry_run: bool = False, name: str = "sales.csv", run: bool = True):
        with django_capture_on_commit_callbacks(execute=run):
            job = start_import(upload=csv_upload(rows, name), dry_run=dry_run, uploaded_by=manager)
        job.refresh_from_db()
        return job

    return upload
