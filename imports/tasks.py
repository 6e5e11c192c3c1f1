"""The worker's side of imports from the browser."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from .services import look_after_jobs, run_import


# No retries: an import that stopped says why on its page, and the manager uploads the file again.
@db_task()
def import_uploaded_file(job_id: int) -> bool:
    return run_import(job_id) is not None


@db_periodic_task(crontab(minute="*/5"))
def look_after_import_jobs() -> dict[str, int]:
    return look_after_jobs()
