import os
import time

from huey.contrib.djhuey import db_task

from .models import JobRun


@db_task()
def record_job(job: int, seconds: float = 0.0) -> None:
    time.sleep(seconds)  # long enough that one worker's threads cannot take every job alone
    JobRun.objects.create(job=job, worker_pid=os.getpid())


@db_task(retries=1)
def fail_job(job: int) -> None:
    raise ValueError(f"job {job} cannot be done")
