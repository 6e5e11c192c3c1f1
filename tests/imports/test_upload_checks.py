"""What is refused at upload, before any import: too large, empty, or not CSV text."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from imports.services import SNIFF_BYTES, check_upload

GOOD = b"customer_id,transaction_id,amount,occurred_at\nM1,R1,120.00,2025-01-31\n"


def upload(content: bytes, name: str = "sales.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def refusal(file) -> str:
    with pytest.raises(ValidationError) as refused:
        check_upload(file)
    return " ".join(refused.value.messages)


def test_a_csv_file_passes():
    check_upload(upload(GOOD))
    check_upload(upload("\ufeff".encode() + GOOD, "SALES.CSV"))  # a BOM, an upper-case name


def test_a_file_over_the_limit_is_refused_with_its_size_and_the_limit(settings):
    settings.LOYALTY_IMPORT_MAX_UPLOAD_MB = 1
    message = refusal(upload(GOOD + b"M1,R2,1.00,2025-01-31\n" * 50_000))
    assert message.startswith("sales.csv is 1.1 MB: the largest file accepted here is 1 MB.")
    assert "manage.py import_transactions" in message
    check_upload(upload(GOOD + b"M1,R2,1.00,2025-01-31\n" * 40_000))  # 0.9 MB: fine


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("sales.csv", b"", "sales.csv is empty."),
        ("sales.xlsx", GOOD, "sales.xlsx is not a CSV file"),
        ("sales.txt", GOOD, "sales.txt is not a CSV file"),
        ("sales.csv", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, "is a spreadsheet workbook, not a CSV file"),
        ("sales.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "is a spreadsheet workbook"),
        ("sales.csv", "customer_id,amount\n".encode("utf-16"), "is UTF-16 text"),
        ("sales.csv", b"\x7fELF\x02\x01\x01\x00\x00\x00", "is not text"),
        ("sales.csv", "customer_id,name\nM1,José\n".encode("latin-1"), "is not UTF-8 text (line 2 is not)"),
        ("sales.csv", b"customer_id;transaction_id;amount\nM1;R1;1.00\n", "has no commas in its first line"),
    ],
)
def test_what_is_not_a_csv_file_is_refused_saying_why(name, content, message):
    assert message in refusal(upload(content, name))


def test_a_character_cut_at_the_end_of_the_sample_read_is_not_taken_for_bad_text():
    content = GOOD + b"M1,R2,1.00,2025-01-31," + b"x" * (SNIFF_BYTES - len(GOOD) - 23) + "é".encode() * 10
    assert content[:SNIFF_BYTES].decode("utf-8", errors="replace").endswith("\ufffd")
    check_upload(upload(content))
