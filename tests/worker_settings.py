"""Settings of a real worker started by a test (`manage.py run_huey` as a subprocess): the test settings with
a real queue, TASK_QUEUE_URL, under the name TASK_QUEUE_NAME, instead of huey's immediate mode."""

from loyalty_site.settings.base import _task_queue, env
from loyalty_site.settings.test import *  # noqa: F403
from loyalty_site.settings.test import DATABASES

HUEY = {
    "name": env("TASK_QUEUE_NAME"),
    **_task_queue(env("TASK_QUEUE_URL"), DATABASES["default"]),
    "immediate": False,
    "utc": False,
    "results": False,
    "consumer": {"workers": 2, "worker_type": "thread"},
}
