"""The worker's tasks, observed: a structured log line per huey signal and the task metrics.

Every task logs `task_started` and then `task_complete`, `task_error` (the exception's type and message;
huey's own line carries the traceback) or another outcome (`task_retrying`, `task_expired`, ...), with the
task's name and id and, when it ran, its duration. Lines logged by the task itself carry its name and id.
"""

import time

import structlog
from django.conf import settings
from huey import signals as S
from huey.api import Task

from . import metrics

logger = structlog.get_logger("ops.worker")

# Signals about a task that ran or will not run. "enqueued" and "scheduled" happen where the task is
# queued (a web request, usually): the web's own line covers them.
_EVENTS = {
    S.SIGNAL_EXECUTING: "task_started",
    S.SIGNAL_COMPLETE: "task_complete",
    S.SIGNAL_ERROR: "task_error",
    S.SIGNAL_RETRYING: "task_retrying",
    S.SIGNAL_CANCELED: "task_canceled",
    S.SIGNAL_EXPIRED: "task_expired",
    S.SIGNAL_INTERRUPTED: "task_interrupted",
    S.SIGNAL_LOCKED: "task_locked",
    S.SIGNAL_RATE_LIMITED: "task_rate_limited",
    S.SIGNAL_REVOKED: "task_revoked",
    S.SIGNAL_TIMEOUT: "task_timeout",
}
# Outcomes of a task that ran to the end or failed: their durations go into the histogram.
_RAN = {S.SIGNAL_COMPLETE, S.SIGNAL_ERROR}
_LEVELS = {S.SIGNAL_EXECUTING: "info", S.SIGNAL_COMPLETE: "info", S.SIGNAL_ERROR: "error"}

_started: dict[str, float] = {}


def task_name(task: Task) -> str:
    return f"{type(task).__module__}.{task.name}"


def on_task_signal(signal: str, task: Task, exc: BaseException | None = None, *args, **kwargs) -> None:
    event = _EVENTS.get(signal)
    if event is None:
        return
    name = task_name(task)
    fields: dict = {"task": name, "task_id": task.id}
    if signal == S.SIGNAL_EXECUTING:
        _started[task.id] = time.monotonic()
        structlog.contextvars.bind_contextvars(task=name, task_id=task.id)
    else:
        # Whatever ended the run (or kept it from starting), the task is no longer this thread's.
        started = _started.pop(task.id, None)
        if started is not None:
            seconds = time.monotonic() - started
            fields["duration_ms"] = round(seconds * 1000, 1)
            if signal in _RAN:
                metrics.TASK_DURATION.labels(name).observe(seconds)
        structlog.contextvars.unbind_contextvars("task", "task_id")
    if signal == S.SIGNAL_ERROR and exc is not None:
        fields["error"] = f"{type(exc).__name__}: {exc}"
        fields["will_retry"] = task.retries > 0
    elif signal == S.SIGNAL_RETRYING:
        fields["retries_left"] = task.retries - 1  # after the retry now queued
    if signal != S.SIGNAL_EXECUTING:
        metrics.TASKS.labels(name, signal).inc()
    getattr(logger, _LEVELS.get(signal, "warning"))(event, **fields)


def start_metrics_server() -> None:
    """huey's start-up hook: a worker serves its metrics when TASK_METRICS_PORT is set."""
    if settings.TASK_METRICS_PORT:
        metrics.serve_worker_metrics(settings.TASK_METRICS_PORT, settings.TASK_METRICS_ADDRESS)
