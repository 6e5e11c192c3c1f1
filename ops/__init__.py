"""Running the site in production: structured logs of requests and tasks, metrics, error reporting, backups."""
