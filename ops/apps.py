from django.apps import AppConfig
from huey.contrib.djhuey import HUEY


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Imported once the apps are loaded: request_log reads django-axes, whose helpers import its models.
        from . import metrics, replica, request_log, worker  # noqa: F401 (request_log connects its receivers)

        HUEY.signal()(worker.on_task_signal)
        HUEY.on_startup("ops_metrics")(worker.start_metrics_server)
        metrics.gauge("loyalty_task_queue_depth", "Jobs waiting in the task queue.", HUEY.pending_count)
        metrics.gauge(
            "loyalty_task_scheduled", "Jobs waiting for a later time (retries, delayed jobs).", HUEY.scheduled_count
        )
        if replica.replica_configured():
            metrics.gauge(
                "loyalty_replica_lag_seconds",
                "How far the read replica is behind the primary (0: it has replayed all it received).",
                replica.replica_lag_seconds,
            )
