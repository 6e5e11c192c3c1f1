from django.db import models


class JobRun(models.Model):
    job = models.IntegerField()
    worker_pid = models.IntegerField()

    def __str__(self) -> str:
        return f"job {self.job} by worker {self.worker_pid}"
