"""Append-only tables in the database itself: on PostgreSQL a row trigger refuses UPDATE and DELETE.

Used by migrations (the ledger's and the audit trail's). Why not django-pgtrigger: two triggers of three
SQL statements each do not need a dependency and its own migration machinery. Why PostgreSQL only: it is
the production database. SQLite (local use) has triggers too, but its test flush is DELETE (PostgreSQL's
is TRUNCATE, which row triggers do not see), so a trigger there would break the tests that empty the
database between browser tests.
"""

from django.db import migrations


def _function(table: str) -> str:
    return f"{table}_refuse_change"


def create_sql(table: str) -> list[str]:
    function = _function(table)
    return [
        f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only: % of a row is refused', TG_OP
                USING ERRCODE = 'restrict_violation',
                      HINT = 'Record a correction as a new row that points at the one it corrects.';
        END
        $$
        """,
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"""
        CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION {function}()
        """,
    ]


def drop_sql(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}", f"DROP FUNCTION IF EXISTS {_function(table)}()"]


def append_only(table: str) -> migrations.RunPython:
    """A migration operation: the trigger on PostgreSQL, nothing elsewhere; reversible."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in create_sql(table):
                schema_editor.execute(statement, params=None)

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in drop_sql(table):
                schema_editor.execute(statement, params=None)

    return migrations.RunPython(forwards, backwards, elidable=False)

# A future data migration that must rewrite ledger rows (none should: corrections are new rows) would have
# to drop the trigger first and create it again after, in the same migration, with the functions above.
