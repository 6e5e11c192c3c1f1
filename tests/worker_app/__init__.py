"""A test-only app for tests of real workers: a task that writes one row per job it runs (installed by the test
settings only; its table has no unique constraint, so a job run twice would show as two rows)."""
