"""The background worker's queue tables (huey_*) where the queue lives in PostgreSQL.

Created here, by `manage.py migrate`, rather than by every web and worker process at start-up (concurrent
CREATE TABLE IF NOT EXISTS can collide). With the SQLite file or Redis there is nothing to create.
"""

from django.db import migrations


def create_queue_tables(apps, schema_editor):
    from huey.contrib.djhuey import HUEY  # the configured queue; a migration imports it only when run
    from huey.storage import PostgresStorage

    if isinstance(HUEY.storage, PostgresStorage):
        HUEY.storage.initialize_schema()


class Migration(migrations.Migration):
    dependencies = [("rewards", "0013_ledger_append_only_on_postgresql")]

    operations = [migrations.RunPython(create_queue_tables, migrations.RunPython.noop, elidable=True)]
