"""Many workers: two `manage.py run_huey` processes consume one PostgreSQL queue (as two machines would);
every job is done exactly once, and both workers take jobs. The worker serves its own metrics."""

import re
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from django.db import connection
from huey import PostgresHuey

from tests.worker_app.models import JobRun

from .conftest import ROOT, database_url, environment, fetch, free_port, manage, wait_until

pytestmark = pytest.mark.postgres_only

JOBS = 40


@pytest.fixture
def queue():
    """A queue of its own (its name) in the test database, whose tables `migrate` creates in production."""
    name = f"workers-{uuid.uuid4().hex[:8]}"
    dsn = database_url().replace("postgres://", "postgresql://", 1)
    PostgresHuey(name, dsn=dsn).storage.close()  # creates the huey_* tables
    yield name
    with connection.cursor() as cursor:
        for table in ("huey_task", "huey_schedule", "huey_kv", "huey_counter"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def test_two_workers_on_one_queue_do_each_job_once(transactional_db, queue, tmp_path):
    url = database_url()
    variables = {
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": url,
        "TASK_QUEUE_URL": url,
        "TASK_QUEUE_NAME": queue,
    }
    metrics_port = free_port()
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    commands = [
        # The one worker that also schedules the periodic jobs, and an extra one without (README: "Workers").
        ([sys.executable, "manage.py", "run_huey"], {"TASK_METRICS_PORT": str(metrics_port)}),
        ([sys.executable, "manage.py", "run_huey", "--no-periodic"], {}),
    ]
    workers = []
    try:
        for (command, extra), log in zip(commands, logs, strict=True):
            with log.open("w") as output:
                workers.append(
                    subprocess.Popen(
                        command,
                        cwd=ROOT,
                        env=environment(**variables, **extra),
                        stdout=output,
                        stderr=subprocess.STDOUT,
                    )
                )
        for worker, log in zip(workers, logs, strict=True):
            wait_until(
                lambda w=worker, f=log: w.poll() is not None or "Huey consumer started" in f.read_text(),
                seconds=60,
                what="the worker starts",
            )
            assert worker.poll() is None, log.read_text()

        # Jobs enqueued by another process (a web request would), each taking a moment, so that no single
        # worker's two threads could take them all.
        enqueued = manage(
            "shell",
            "-c",
            f"from tests.worker_app.tasks import record_job\nfor job in range({JOBS}): record_job(job, 0.05)",
            **variables,
        )
        assert enqueued.returncode == 0, enqueued.stderr
        wait_until(lambda: JobRun.objects.count() >= JOBS, seconds=90, what=f"{JOBS} jobs done")
        wait_until(lambda: _queue_empty(queue), seconds=10, what="the queue empties")

        runs = list(JobRun.objects.values_list("job", "worker_pid"))
        assert Counter(job for job, _ in runs) == Counter(range(JOBS))  # each job once, none twice
        by_worker = Counter(pid for _, pid in runs)
        assert set(by_worker) == {worker.pid for worker in workers}  # both took jobs

        # The first worker's own /metrics counts the jobs it completed.
        status, _, body = fetch(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        completed = re.search(
            rb'loyalty_tasks_total\{outcome="complete",task="tests.worker_app.tasks.record_job"\} (\S+)', body
        )
        assert completed and float(completed.group(1)) == by_worker[workers[0].pid]
        assert re.search(rb"^loyalty_task_queue_depth 0\.0$", body, re.MULTILINE)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)


def _queue_empty(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM huey_task WHERE queue = %s", [name])
        return cursor.fetchone()[0] == 0
