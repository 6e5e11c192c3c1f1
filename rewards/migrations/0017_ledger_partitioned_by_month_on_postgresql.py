"""On PostgreSQL the ledger becomes a table partitioned by month (rewards.partitions says the design: the
primary key (id, effective_at), the once-only guarantees on rewards_ledgerclaim, references into the ledger
checked by constraint triggers). SQLite keeps the plain table: nothing happens there.

The plain table's rows are copied into the partitioned one in this migration's transaction (the ledger is
locked meanwhile: a large ledger needs a maintenance window). The indexes, check constraints and foreign
keys out of the ledger are taken from the plain table, so the partitioned one has the same, under the same
names. Backwards, the plain table comes back the same way, with its unique indexes and foreign keys.
"""

import re

from django.db import migrations

from loyalty_site.append_only import create_sql
from rewards.local_time import current_month
from rewards.partitions import CLAIMS, DEFAULT, LEDGER, REFERENCES, create_month, months_ahead, months_in

PLAIN = f"{LEDGER}_plain"
PARTITIONED = f"{LEDGER}_partitioned"
_ON_LEDGER = re.compile(rf" ON (?:\w+\.)?{LEDGER} USING ")

# The entries that carry a once-only claim: what the unique constraints' conditions select.
CLAIMED = "kind IN ('earn', 'reversal') OR (kind IN ('bonus', 'expiry') AND bonus_key <> '')"
CLAIM_COLUMNS = "entry_id, effective_at, kind, transaction_id, customer_id, bonus_key"


def _rows(cursor, sql, params=None):
    cursor.execute(sql, params)
    return cursor.fetchall()


def _schema_of(cursor, table):
    """The table's indexes (but its primary key) and its foreign keys to other tables, as SQL."""
    indexes = _rows(
        cursor,
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p')",
        [table, table],
    )
    foreign_keys = _rows(
        cursor,
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype = 'f' AND confrelid <> conrelid",
        [table],
    )
    return indexes, foreign_keys


def _sequence_state(cursor, table):
    (sequence,) = _rows(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])[0]
    (last_value, is_called) = _rows(cursor, f"SELECT last_value, is_called FROM {sequence}")[0]  # noqa: S608
    return last_value, is_called


def _restore_sequence(cursor, table, state):
    last_value, is_called = state
    cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [table, last_value, is_called])
    (sequence,) = _rows(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])[0]
    if sequence.split(".")[-1] != f"{table}_id_seq":
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {table}_id_seq")


def _rename_primary_key(cursor, table):
    """Out of the way of the new table's, which takes the usual name."""
    (name,) = _rows(
        cursor, "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", [table]
    )[0]
    cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {name} TO {table}_pkey")


def partition_the_ledger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {LEDGER} IN ACCESS EXCLUSIVE MODE")
        indexes, foreign_keys = _schema_of(cursor, LEDGER)
        sequence = _sequence_state(cursor, LEDGER)
        cursor.execute(f"ALTER TABLE {LEDGER} RENAME TO {PLAIN}")
        _rename_primary_key(cursor, PLAIN)
        cursor.execute(
            f"CREATE TABLE {LEDGER} (LIKE {PLAIN} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY "
            f"INCLUDING STORAGE INCLUDING COMPRESSION, CONSTRAINT {LEDGER}_pkey PRIMARY KEY (id, effective_at)) PARTITION BY RANGE (effective_at)"
        )
        cursor.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {LEDGER} DEFAULT")
        for month in sorted({*months_in(PLAIN), *months_ahead(current_month())}):
            create_month(month)
        cursor.execute(f"INSERT INTO {LEDGER} SELECT * FROM {PLAIN}")  # noqa: S608
        # Drops the plain table's foreign keys from the tables that refer to it, and its trigger.
        cursor.execute(f"DROP TABLE {PLAIN} CASCADE")
        _restore_sequence(cursor, LEDGER, sequence)

        unique = [(name, sql) for name, sql in indexes if sql.startswith("CREATE UNIQUE INDEX")]
        for name, sql in indexes:
            if (name, sql) not in unique:
                cursor.execute(sql)
        for name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {LEDGER} ADD CONSTRAINT {name} {definition}")

        # The once-only claims: the unique indexes, under their names, on a table that is not partitioned.
        cursor.execute(
            f"CREATE TABLE {CLAIMS} (entry_id bigint NOT NULL, effective_at timestamptz NOT NULL, "
            "kind varchar(12) NOT NULL, transaction_id bigint, customer_id bigint NOT NULL, "
            "bonus_key varchar(64) NOT NULL)"
        )
        cursor.execute(
            f"INSERT INTO {CLAIMS} ({CLAIM_COLUMNS}) SELECT id, {CLAIM_COLUMNS.split(', ', 1)[1]} "  # noqa: S608
            f"FROM {LEDGER} WHERE {CLAIMED}"
        )
        for _name, sql in unique:
            cursor.execute(_ON_LEDGER.sub(f" ON {CLAIMS} USING ", sql))
        # One statement-level trigger with the statement's new rows as a table: the claims are written set-based
        # at the end of the same statement (a duplicate fails the statement, as a unique index did), and COPY
        # keeps its batched inserts, which any row-level BEFORE trigger would turn into one insert per row.
        cursor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {LEDGER}_claim() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO {CLAIMS} ({CLAIM_COLUMNS})
                SELECT id, {CLAIM_COLUMNS.split(", ", 1)[1]} FROM written WHERE {CLAIMED};
                RETURN NULL;
            END
            $$
            """  # noqa: S608
        )
        cursor.execute(
            f"CREATE TRIGGER {LEDGER}_claims AFTER INSERT ON {LEDGER} REFERENCING NEW TABLE AS written "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {LEDGER}_claim()"
        )
        # Claims go with their entries when the ledger is emptied as a whole (the tests' flush).
        cursor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {LEDGER}_truncate_claims() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                TRUNCATE {CLAIMS};
                RETURN NULL;
            END
            $$
            """
        )
        cursor.execute(
            f"CREATE TRIGGER {LEDGER}_truncate_claims AFTER TRUNCATE ON {LEDGER} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {LEDGER}_truncate_claims()"
        )

        # References into the ledger: the entry referred to exists, checked at the commit (as Django's
        # foreign keys, DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS applies to them too).
        cursor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {LEDGER}_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                entry bigint := (to_jsonb(NEW) ->> TG_ARGV[0])::bigint;
            BEGIN
                IF entry IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {LEDGER} WHERE id = entry) THEN
                    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                        TG_TABLE_NAME, TG_NAME
                        USING ERRCODE = 'foreign_key_violation',
                              DETAIL = format('Key (%s)=(%s) is not present in table "{LEDGER}".', TG_ARGV[0], entry);
                END IF;
                RETURN NULL;
            END
            $$
            """  # noqa: S608
        )
        for table, column in REFERENCES:
            cursor.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_{column}_in_ledger AFTER INSERT OR UPDATE OF {column} ON {table} "
                f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.{column} IS NOT NULL) "
                f"EXECUTE FUNCTION {LEDGER}_referenced('{column}')"
            )
        for statement in create_sql(LEDGER):
            cursor.execute(statement)


def plain_ledger_again(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {LEDGER} IN ACCESS EXCLUSIVE MODE")
        indexes, foreign_keys = _schema_of(cursor, LEDGER)
        claims = [
            sql
            for _name, sql in _rows(cursor, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [CLAIMS])
        ]
        sequence = _sequence_state(cursor, LEDGER)
        for table, column in REFERENCES:
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_{column}_in_ledger ON {table}")
        cursor.execute(f"ALTER TABLE {LEDGER} RENAME TO {PARTITIONED}")
        _rename_primary_key(cursor, PARTITIONED)
        cursor.execute(
            f"CREATE TABLE {LEDGER} (LIKE {PARTITIONED} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY "
            f"INCLUDING STORAGE INCLUDING COMPRESSION, CONSTRAINT {LEDGER}_pkey PRIMARY KEY (id))"
        )
        cursor.execute(f"INSERT INTO {LEDGER} SELECT * FROM {PARTITIONED}")  # noqa: S608
        cursor.execute(f"DROP TABLE {PARTITIONED} CASCADE")
        cursor.execute(f"DROP TABLE {CLAIMS}")
        for function in ("claim", "truncate_claims", "referenced"):
            cursor.execute(f"DROP FUNCTION IF EXISTS {LEDGER}_{function}()")
        _restore_sequence(cursor, LEDGER, sequence)
        for _name, sql in indexes:
            cursor.execute(sql)
        for sql in claims:
            cursor.execute(re.sub(rf" ON (?:\w+\.)?{CLAIMS} USING ", f" ON {LEDGER} USING ", sql))
        for name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {LEDGER} ADD CONSTRAINT {name} {definition}")
        for table, column in REFERENCES:
            cursor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fk_{LEDGER}_id FOREIGN KEY ({column}) "
                f"REFERENCES {LEDGER} (id) DEFERRABLE INITIALLY DEFERRED"
            )
        for statement in create_sql(LEDGER):
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("rewards", "0016_adjustment_requests_can_be_withdrawn")]

    operations = [migrations.RunPython(partition_the_ledger, plain_ledger_again, elidable=False)]
