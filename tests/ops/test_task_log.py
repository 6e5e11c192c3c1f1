"""One log line per huey signal of a task (started, complete, error, retrying) with its name, id and duration,
and the task metrics. Tasks run in the test's process (huey's immediate mode) through huey's own execution,
so its signals are the worker's."""

import pytest
import structlog
from prometheus_client import REGISTRY

from tests.worker_app.models import JobRun
from tests.worker_app.tasks import fail_job, record_job

pytestmark = pytest.mark.django_db

RECORD = "tests.worker_app.tasks.record_job"
FAIL = "tests.worker_app.tasks.fail_job"


def count(task: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("loyalty_tasks_total", {"task": task, "outcome": outcome}) or 0.0


def runs(task: str) -> float:
    return REGISTRY.get_sample_value("loyalty_task_duration_seconds_count", {"task": task}) or 0.0


def task_lines(events: list[dict]) -> list[dict]:
    return [event for event in events if event["event"].startswith("task_")]


def test_a_task_that_completes_logs_its_start_and_its_completion_with_its_duration(logged):
    completed, timed = count(RECORD, "complete"), runs(RECORD)
    record_job(7)
    assert JobRun.objects.get().job == 7
    started, complete = task_lines(logged)
    assert (started["event"], complete["event"]) == ("task_started", "task_complete")
    assert started["task"] == complete["task"] == RECORD
    assert started["task_id"] == complete["task_id"] and len(complete["task_id"]) == 36
    assert complete["duration_ms"] >= 0 and complete["log_level"] == "info"
    assert (count(RECORD, "complete"), runs(RECORD)) == (completed + 1, timed + 1)


def test_a_failing_task_logs_the_error_its_retry_and_the_final_error(logged):
    errors, retries = count(FAIL, "error"), count(FAIL, "retrying")
    fail_job(3)  # one retry: in immediate mode it runs again at once
    events = [(line["event"], line.get("will_retry"), line.get("retries_left")) for line in task_lines(logged)]
    assert events == [
        ("task_started", None, None),
        ("task_error", True, None),
        ("task_retrying", None, 0),
        ("task_started", None, None),
        ("task_error", False, None),
    ]
    error = task_lines(logged)[1]
    assert error["error"] == "ValueError: job 3 cannot be done"
    assert error["log_level"] == "error" and error["task"] == FAIL and error["duration_ms"] >= 0
    assert (count(FAIL, "error"), count(FAIL, "retrying")) == (errors + 2, retries + 1)


def test_lines_logged_inside_a_task_carry_its_name_and_id(logged, monkeypatch):
    monkeypatch.setattr(JobRun.objects, "create", _logging_create)
    record_job(1)
    [inside] = [event for event in logged if event["event"] == "writing the job"]
    started = task_lines(logged)[0]
    assert (inside["task"], inside["task_id"]) == (RECORD, started["task_id"])
    # After the task, nothing of it stays bound.
    structlog.get_logger("loyalty.test").info("after the task")
    assert "task" not in logged[-1] and "task_id" not in logged[-1]


def _logging_create(**fields):
    structlog.get_logger("loyalty.test").info("writing the job")
