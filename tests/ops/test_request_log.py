"""One log line per request: its id (kept from X-Request-ID or made up, and returned), the user or API key,
the status, the view and the duration."""

import json
import logging
import uuid
from types import SimpleNamespace

import pytest
import structlog
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path

from ops.request_log import api_key_of
from ops.setup import logging_config

pytestmark = pytest.mark.django_db


@login_not_required
def authenticated_by_key(request):
    # What the JSON API's key authentication leaves on the request (DRF copies user and auth onto it).
    request.user = get_user_model().objects.get(pk=request.GET["owner"])
    request.auth = SimpleNamespace(pk=41, log_label="key_7f3a")
    return HttpResponse("ok")


@login_not_required
def broken(request):
    raise RuntimeError("the view failed")


@login_not_required
def noisy(request):
    structlog.get_logger("loyalty.test").info("inside the view")
    return HttpResponse("ok")


def finished(events: list[dict]) -> list[dict]:
    return [event for event in events if event["event"] in ("request_finished", "request_failed")]


def test_each_request_is_one_line_with_a_new_id_returned_in_the_response(client, logged):
    response = client.get("/healthz")
    [line] = finished(logged)
    # request_started is logged at DEBUG, below the level any handler writes.
    assert [(event["event"], event["log_level"]) for event in logged] == [
        ("request_started", "debug"),
        ("request_finished", "info"),
    ]
    assert uuid.UUID(line["request_id"])
    assert response["X-Request-ID"] == line["request_id"]
    assert line["code"] == 200
    assert line["request"] == "GET /healthz"
    assert line["view"] == "healthz"
    assert line["duration_ms"] >= 0
    assert line["user_id"] is None
    assert line["ip"] == "127.0.0.1"


def test_an_incoming_request_id_is_kept_and_a_malformed_one_replaced(client, logged):
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="pos-4711.till:2")
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="two words\nforged line")
    first, second = finished(logged)
    assert first["request_id"] == kept["X-Request-ID"] == "pos-4711.till:2"
    assert second["request_id"] == replaced["X-Request-ID"]
    assert uuid.UUID(second["request_id"])


def test_the_line_names_the_signed_in_user(staff_client, staff, logged):
    response = staff_client.get("/till/")
    assert response.status_code == 200
    [line] = finished(logged)
    assert line["user_id"] == staff.pk
    assert line["view"] == "transactions:till"


@pytest.mark.urls(__name__)
def test_a_request_authenticated_by_an_api_key_names_the_key_and_its_user(client, staff, logged):
    client.get("/by-key", {"owner": staff.pk})
    [line] = finished(logged)
    assert line["api_key"] == "key_7f3a"
    assert line["user_id"] == staff.pk


def test_an_api_key_without_a_label_is_named_by_its_primary_key():
    assert api_key_of(SimpleNamespace(auth=SimpleNamespace(pk=12))) == "12"
    assert api_key_of(SimpleNamespace(api_key=SimpleNamespace(pk=5, log_label="k5"), auth=None)) == "k5"
    assert api_key_of(SimpleNamespace(auth=None)) is None


@pytest.mark.urls(__name__)
def test_a_failing_request_is_one_line_with_the_error_and_its_id_goes_back(client, logged):
    client.raise_request_exception = False
    response = client.get("/broken", HTTP_X_REQUEST_ID="till-9")
    assert response.status_code == 500
    assert response["X-Request-ID"] == "till-9"
    [line] = finished(logged)
    assert line["event"] == "request_failed"
    assert line["request_id"] == "till-9"
    assert line["code"] == 500
    assert line["log_level"] == "error" and line["exc_info"]


@pytest.mark.urls(__name__)
def test_lines_logged_during_a_request_carry_its_id(client, logged):
    client.get("/noisy", HTTP_X_REQUEST_ID="abc")
    [inside] = [event for event in logged if event["event"] == "inside the view"]
    assert inside["request_id"] == "abc"


def test_json_lines_for_production_and_console_lines_locally(capsys):
    for log_format in ("json", "console"):
        configuration = logging_config(log_format, "INFO")
        formatter_spec = dict(configuration["formatters"]["structured"])
        formatter = formatter_spec.pop("()")(**formatter_spec)
        record = logging.LogRecord("django", logging.WARNING, __file__, 1, "Not Found: %s", ("/x",), None)
        structlog.contextvars.bind_contextvars(request_id="r-1")
        try:
            text = formatter.format(record)
        finally:
            structlog.contextvars.clear_contextvars()
        if log_format == "json":
            line = json.loads(text)
            assert line["event"] == "Not Found: /x"
            assert line["request_id"] == "r-1" and line["level"] == "warning" and line["logger"] == "django"
            assert "\n" not in text
        else:
            assert "Not Found: /x" in text and "request_id" in text and not text.startswith("{")


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="DJANGO_LOG_FORMAT"):
        logging_config("xml", "INFO")


urlpatterns = [path("by-key", authenticated_by_key), path("broken", broken), path("noisy", noisy)]
