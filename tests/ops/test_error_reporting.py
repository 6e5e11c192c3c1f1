"""The error reporter: off unless SENTRY_DSN is set; with it, Django's and huey's errors go to the DSN (here a
receiver on 127.0.0.1), without personal data."""

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import PRODUCTION, manage

CLIENT = (
    "import json, sentry_sdk; from django.conf import settings; client = sentry_sdk.get_client(); "
    "print(json.dumps({'enabled': settings.SENTRY_ENABLED, 'active': client.is_active(), "
    "'options': {k: client.options.get(k) for k in ('send_default_pii', 'include_local_variables', "
    "'max_request_body_size', 'environment', 'traces_sample_rate')}, 'integrations': sorted(client.integrations)}))"
)

# A request whose view fails and a task that fails, in a production process, then everything sent.
FAILURES = """
from wsgiref.util import setup_testing_defaults

import sentry_sdk
from huey.contrib.djhuey import HUEY

from loyalty_site import health
from loyalty_site.wsgi import application

def failing_executor(connection):
    raise RuntimeError("the view failed")

health.MigrationExecutor = failing_executor
environ = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/healthz",
    "HTTP_HOST": "loyalty.example.com",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_COOKIE": "csrftoken=secret-cookie-value",
    "REMOTE_ADDR": "198.51.100.23",
}
setup_testing_defaults(environ)
answers = []
application(environ, lambda status, headers, exc_info=None: answers.append(status))
print("status", answers[0])

def failing_task():
    raise LookupError("the task failed")

HUEY.execute(HUEY.task(name="failing_task")(failing_task).s())
sentry_sdk.flush(10)
"""


def production(**variables):
    return {"DJANGO_SETTINGS_MODULE": "loyalty_site.settings.production", **PRODUCTION, **variables}


@pytest.fixture
def receiver():
    """A stand-in for Sentry on 127.0.0.1 that keeps every envelope posted to it."""
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://publickey@127.0.0.1:{server.server_address[1]}/1", received
    server.shutdown()


def events(envelopes: list[bytes]) -> list[dict]:
    found = []
    for envelope in envelopes:
        lines = envelope.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                found.append(json.loads(payload))
    return found


def test_the_error_reporter_is_off_without_a_dsn():
    result = manage("shell", "-c", CLIENT, **production())
    assert result.returncode == 0, result.stderr
    client = json.loads(result.stdout.strip().splitlines()[-1])
    assert (client["enabled"], client["active"]) == (False, False)


def test_with_a_dsn_django_and_huey_errors_are_reported_without_personal_data(receiver, tmp_path):
    dsn, received = receiver
    variables = production(
        SENTRY_DSN=dsn,
        SENTRY_ENVIRONMENT="staging",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db'}",
        TASK_QUEUE_URL=f"sqlite:///{tmp_path / 'q'}",
    )
    result = manage("shell", "-c", CLIENT, **variables)
    assert result.returncode == 0, result.stderr
    client = json.loads(result.stdout.strip().splitlines()[-1])
    assert (client["enabled"], client["active"]) == (True, True)
    assert {"django", "huey"} <= set(client["integrations"])
    assert client["options"] == {
        "send_default_pii": False,
        "include_local_variables": False,
        "max_request_body_size": "never",
        "environment": "staging",
        "traces_sample_rate": 0.0,
    }

    script = tmp_path / "failures.py"  # run from a file: the command line (in the event) stays short
    script.write_text(FAILURES)
    failed = manage("shell", "-c", f"exec(open({str(script)!r}).read())", **variables)
    assert failed.returncode == 0, failed.stderr
    assert "status 500" in failed.stdout
    reported = {event["exception"]["values"][-1]["type"]: event for event in events(received)}
    assert sorted(reported) == ["LookupError", "RuntimeError"] and len(events(received)) == 2  # one event each
    request_error, task_error = reported["RuntimeError"], reported["LookupError"]
    assert request_error["request"]["url"].endswith("://loyalty.example.com/healthz")
    assert task_error["exception"]["values"][-1]["mechanism"]["type"] == "huey"
    # No personal data: no cookies, no client address, no local variables of the frames.
    text = json.dumps(request_error)
    assert "secret-cookie-value" not in text and "198.51.100.23" not in text
    assert "ip_address" not in request_error.get("user", {})
    frames = [
        frame
        for event in (request_error, task_error)
        for value in event["exception"]["values"]
        for frame in value["stacktrace"]["frames"]
    ]
    assert frames and not any("vars" in frame for frame in frames)
