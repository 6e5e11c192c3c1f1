"""A chain at scale: 200 stores, a million members and a year of purchases, built once; then the till, the
reports and a load test measured against it, at 1 M and at 10 M transactions side by side.

    .venv/bin/python bench/chain.py generate --transactions 1000000     # -> database bench_chain_1m
    .venv/bin/python bench/chain.py generate --transactions 10000000    # -> database bench_chain_10m
    .venv/bin/python bench/chain.py measure                             # both sizes, side by side
    .venv/bin/python bench/chain.py load                                # till purchases vs a bare INSERT

Every command takes `--server` (postgres://postgres@127.0.0.1:5432) and `--prefix` (bench_chain): the
databases are <prefix>_1m and <prefix>_10m (<prefix>_<N> for other sizes). A database is built once and
reused while its build record (table bench_chain_build) says it is complete; `--rebuild` drops it first.
TIME_ZONE is America/New_York unless set, and is kept in the build record (measure uses the same).

What `generate` writes, set-based (generate_series, INSERT ... SELECT) straight into the migrated tables:
- 200 stores (the default one and 199 more), 1,000,000 members (each with a home store, a phone and an
  email), the accounts that use them (an owner, a manager, cashiers) and three rewards;
- N purchases over the 12 calendar months before the current one, in time order, amounts from 1.00 to
  400.00 (log-normal, median about 54.00), 80% at the member's home store, members' visits skewed (some come
  every week, most a few times a year); about 2% of purchases refunded later in full or in part;
- the ledger: an earn entry per purchase, a reversal per refund and, in the last month, a redemption for
  about one member in ten who can afford one. Points are the program's own: each distinct amount (and each
  distinct purchase amount and refund) is computed once in Python by rewards.services.earning (the
  engine, as the till and the importer use it) and joined in, never a second formula in SQL;
- the monthly roll-up and the liability roll-up folded by the project's own fold_into_rollup and
  fold_into_liability, then `check_points_rollup` and `check_liability` run on the result.

For speed, the large tables' secondary indexes and unique constraints are dropped during the load and
created again afterwards from their saved definitions (the script checks that every index is back exactly
as migrations made it), and foreign keys are not checked row by row during the load
(session_replication_role = replica): instead every foreign key of the loaded tables is checked once, by an
anti-join, after it, and the build fails if one row points nowhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import itertools
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import psycopg_connect  # noqa: E402 (the other benches' connection helper)

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
DEFAULT_PREFIX = "bench_chain"
GOAL_RATIO = 1.5  # each figure at 10 M within 1.5x of its figure at 1 M
STORES = 200
CUSTOMERS = 1_000_000
MONTHS = 12
REFUND_SHARE = 0.02
# Visits are skewed: member k of C is picked with probability ~ k^(1/SKEW - 1), so the most frequent members
# come weekly at 10 M transactions and the typical one a few times a year.
SKEW = 1.3
PASSWORD = "Tq8-river-lantern-42"  # noqa: S105 (the bench accounts', in bench databases only)
CASHIERS = 8
REWARDS = [  # name, cost in points, benefit, money off, description
    ("Free coffee", 150, "free_item", None, "coffee"),
    ("$10 off", 600, "amount_off", Decimal("10.00"), ""),
    ("Free delivery", 300, "free_delivery", None, ""),
]
BUILD_TABLE = "bench_chain_build"
BASELINE_TABLE = "bench_chain_insert"  # the baseline view's (bench/chain_urls.py)
LOADED_TABLES = [
    "customers_customer",
    "transactions_transaction",
    "rewards_pointsentry",
    "rewards_redemption",
]

# Derived tables whose secondary indexes the fold fills faster when rebuilt after it.
WINDOW_TABLES = ["rewards_customerwindowpoints"]


def size_label(transactions: int) -> str:
    if transactions % 1_000_000 == 0:
        return f"{transactions // 1_000_000}m"
    if transactions % 1_000 == 0:
        return f"{transactions // 1_000}k"
    return str(transactions)


def database_name(prefix: str, transactions: int) -> str:
    return f"{prefix}_{size_label(transactions)}"


def database_url(server: str, name: str) -> str:
    return f"{server.rstrip('/')}/{name}"


def build_record(url: str) -> dict | None:
    """The database's build record, or None when it does not exist or its build did not finish."""
    name = urlsplit(url).path.lstrip("/")
    maintenance = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg_connect(maintenance, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return None
    with psycopg_connect(url, autocommit=True) as connection:
        exists = connection.execute("SELECT to_regclass(%s)", [BUILD_TABLE]).fetchone()[0]
        if not exists:
            return None
        row = connection.execute(f"SELECT record FROM {BUILD_TABLE} WHERE complete").fetchone()
        return row[0] if row else None


def recreate_database(url: str, prefix: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith(prefix):
        raise SystemExit(f"refusing to drop database {name!r}: its name must start with {prefix!r}")
    maintenance = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg_connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def django_env(url: str, time_zone: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "loyalty_site.settings.local",
        "DJANGO_DEBUG": "false",  # no query log
        "TIME_ZONE": time_zone,
        "PYTHONPATH": str(ROOT),
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------
# generate


class Steps:
    """Prints each step with its time, and keeps the times for the build record."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    def run(self, name: str, function, *args, **kwargs):
        print(f"  {name} ...", end="", flush=True)
        started = time.perf_counter()
        result = function(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - started, 1)
        print(f" {self.seconds[name]:.1f} s", flush=True)
        return result

    @property
    def total(self) -> float:
        return round(time.perf_counter() - self.started, 1)


def generate(args) -> None:
    name = database_name(args.prefix, args.transactions)
    url = database_url(args.server, name)
    if not args.rebuild and (record := build_record(url)):
        print(f"{name}: reusing the database built {record['built_at']} ({record['transactions']:,} transactions, "
              f"{record['seconds_total']:.0f} s to build, {record['database_size']})")  # fmt: skip
        return
    print(f"{name}: building {args.transactions:,} transactions of {args.customers:,} members at {STORES} stores")
    steps = Steps()
    steps.run("create the database", recreate_database, url, args.prefix)
    env = django_env(url, args.time_zone)
    steps.run("migrate", manage, env, "migrate", "--noinput", "-v", "0")
    steps.run("createcachetable", manage, env, "createcachetable")
    os.environ.update(env)
    import django

    django.setup()
    Builder(transactions=args.transactions, customers=args.customers, steps=steps, seed=args.seed).build()


class Builder:
    def __init__(self, *, transactions: int, customers: int, steps: Steps, seed: float) -> None:
        from django.db import connection

        self.connection = connection
        self.transactions = transactions
        self.customers = customers
        self.steps = steps
        self.seed = seed

    def sql(self, statement: str, params=None):
        with self.connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else cursor.rowcount

    def build(self) -> None:
        from django.db import connection

        from rewards.calendar import add_months
        from rewards.local_time import current_month, local_midnight
        from rewards.partitions import claim_entries

        self.first_month = add_months(current_month(), -MONTHS)
        self.start, self.end = local_midnight(self.first_month), local_midnight(current_month())
        steps = self.steps
        # One session for the whole build: its settings below, and the loaded tables' indexes dropped in it.
        self.sql("SET synchronous_commit = off")
        self.sql("SET work_mem = '256MB'")
        self.sql("SET maintenance_work_mem = '1GB'")
        self.sql("SET max_parallel_workers_per_gather = 0")  # random() in one backend: the same data each build
        self.sql("SELECT setseed(%s)", [self.seed])
        steps.run("stores, accounts and rewards", self.catalogue)
        # A partitioned ledger (PostgreSQL, rewards 0017) gets its months before the rows arrive, as the daily
        # job gives them to a live site; otherwise the year would land in the DEFAULT partition.
        steps.run("the ledger's monthly partitions", self.partition_months)
        saved = steps.run("drop the loaded tables' secondary indexes", self.drop_indexes)
        self.sql("SET session_replication_role = replica")  # foreign keys checked once after the load instead
        steps.run("members", self.members)
        steps.run("purchases and refunds (plan)", self.plan)
        steps.run("purchases and refunds (transactions)", self.transaction_rows)
        steps.run("earn entries (points per distinct amount, by the engine)", self.earn_entries)
        steps.run("reversal entries (per distinct purchase and refund, by the engine)", self.reversal_entries)
        steps.run("redemptions", self.redemptions)
        self.sql("SET session_replication_role = DEFAULT")
        # The replication role silenced the partitioned ledger's claims trigger with the foreign keys: the
        # once-only claims of every loaded entry, in one statement (as the import's bulk path does).
        # Statistics first: without them the planner probes every partition's key once per entry (241 s at 1 M).
        self.sql("ANALYZE rewards_pointsentry")
        steps.run("the ledger's once-only claims", claim_entries, "rewards_pointsentry")
        steps.run("recreate the indexes and unique constraints", self.restore_indexes, saved)
        steps.run("check every foreign key of the loaded tables", self.check_foreign_keys)
        steps.run("sequences", self.sequences)
        steps.run("fold the monthly roll-up and the report's windows (fold_into_rollup)", self.fold_rollup)
        steps.run("fold the liability roll-up (fold_into_liability)", self.fold_liability)
        steps.run("VACUUM ANALYZE", self.vacuum)
        checks = {
            "check_points_rollup": steps.run("check_points_rollup", self.check, "check_points_rollup"),
            "check_liability": steps.run("check_liability", self.check, "check_liability"),
        }
        counts = {table: self.sql(f"SELECT count(*) FROM {table}")[0][0] for table in LOADED_TABLES}
        for derived in ["rewards_customermonthpoints", "rewards_customerwindowpoints"]:
            counts[derived] = self.sql(f"SELECT count(*) FROM {derived}")[0][0]
        size = self.sql("SELECT pg_size_pretty(pg_database_size(current_database()))")[0][0]
        size_bytes = self.sql("SELECT pg_database_size(current_database())")[0][0]
        record = {
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "transactions": self.transactions,
            "customers": self.customers,
            "stores": STORES,
            "first_month": self.first_month.isoformat(),
            "months": MONTHS,
            "time_zone": os.environ["TIME_ZONE"],
            "seed": self.seed,
            "counts": counts,
            "checks": checks,
            "seconds": steps.seconds,
            "seconds_total": steps.total,
            "database_size": size,
            "database_bytes": size_bytes,
            "cpus": os.cpu_count(),
            "load_average": [round(value, 1) for value in os.getloadavg()],
        }
        self.sql(f"CREATE TABLE {BUILD_TABLE} (complete boolean NOT NULL, record jsonb NOT NULL)")
        self.sql(f"INSERT INTO {BUILD_TABLE} VALUES (true, %s)", [json.dumps(record)])
        connection.close()
        print(f"built in {steps.total:.0f} s; database size {size}")
        for table, count in counts.items():
            print(f"  {table:<32}{count:>12,}")

    # -- the catalogue -----------------------------------------------------------------------------

    def catalogue(self) -> None:
        from django.contrib.auth import get_user_model

        from accounts.roles import Role
        from accounts.services import create_account
        from rewards.models import Reward, RuleVersion
        from rewards.selectors import default_program, rule_version_at
        from rewards.services.redemption import save_reward
        from transactions.models import Store

        default = Store.objects.get(is_default=True)
        Store.objects.bulk_create(
            [Store(code=f"store-{number:03d}", name=f"Store {number:03d}") for number in range(2, STORES + 1)]
        )
        self.store_ids = [
            default.pk,
            *Store.objects.exclude(pk=default.pk).order_by("code").values_list("pk", flat=True),
        ]
        owner = get_user_model().objects.create_superuser("bench-owner", "owner@example.com", PASSWORD)
        create_account(username="bench-manager", password=PASSWORD, created_by=owner, role=Role.MANAGER)
        self.cashier_ids = [
            create_account(
                username=f"bench-cashier-{number:02d}", password=PASSWORD, created_by=owner,
                till_store=Store.objects.get(pk=self.store_ids[number % STORES]),
            ).pk
            for number in range(1, CASHIERS + 1)
        ]  # fmt: skip
        program = default_program()
        self.rewards = [
            save_reward(reward=Reward(program=program, name=name, points_cost=cost, benefit=benefit,
                                      amount_off=amount_off, description=description))
            for name, cost, benefit, amount_off, description in REWARDS
        ]  # fmt: skip
        self.version = rule_version_at(self.start)
        if rule_version_at(self.end - dt.timedelta(microseconds=1)) != self.version or RuleVersion.objects.count() != 1:
            raise SystemExit("the generator assumes the one rule version migrations create")
        if self.version.engine_rule().stamp_card is not None or self.version.engine_rule().promotions:
            raise SystemExit("the generator assumes a rule without promotions or stamp card (the default one)")

    # -- indexes -----------------------------------------------------------------------------------

    def index_definitions(self, tables: list[str] = LOADED_TABLES) -> list[tuple[str, str, str]]:
        """(table, name, definition) of every index of the tables, as pg_get_indexdef writes it."""
        return self.sql(
            "SELECT t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname = ANY(%s) ORDER BY 1, 2",
            [tables],
        )

    def partition_months(self) -> None:
        from rewards.calendar import add_months
        from rewards.partitions import ensure_months, is_partitioned

        if is_partitioned():
            ensure_months(add_months(self.first_month, step) for step in range(MONTHS + 1))

    def drop_indexes(self, tables: list[str] = LOADED_TABLES) -> dict:
        """Drop the secondary indexes and unique constraints of the tables (primary keys stay), and
        return what recreates them: the unique constraints' definitions and the other indexes' CREATE INDEX."""
        before = self.index_definitions(tables)
        constraints = self.sql(
            "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_class t ON t.oid = c.conrelid WHERE t.relname = ANY(%s) AND c.contype = 'u' ORDER BY 1, 2",
            [tables],
        )
        indexes = self.sql(
            "SELECT t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) "
            "ORDER BY 1, 2",
            [tables],
        )
        for table, name, _definition in constraints:
            self.sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for _table, name, _definition in indexes:
            self.sql(f'DROP INDEX "{name}"')
        return {"before": before, "constraints": constraints, "indexes": indexes}

    def restore_indexes(self, saved: dict, tables: list[str] = LOADED_TABLES) -> None:
        for table, name, definition in saved["constraints"]:
            self.sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        for _table, _name, definition in saved["indexes"]:
            # A partitioned table's index is written "ON ONLY" (the parent alone, invalid until each partition's
            # index is attached): recreated on the whole table, so every partition gets its own again.
            self.sql(definition.replace(" ON ONLY ", " ON ", 1))
        after = self.index_definitions(tables)
        if after != saved["before"]:
            missing = set(saved["before"]) ^ set(after)
            raise SystemExit(f"the indexes differ from the migrated schema's after the load: {sorted(missing)}")

    def check_foreign_keys(self) -> None:
        """Every single-column foreign key of the loaded tables, checked once by an anti-join."""
        keys = self.sql(
            "SELECT t.relname, a.attname, r.relname, ra.attname FROM pg_constraint c "
            "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] "
            "WHERE c.contype = 'f' AND t.relname = ANY(%s) AND array_length(c.conkey, 1) = 1 ORDER BY 1, 2",
            [LOADED_TABLES],
        )
        broken = []
        for table, column, parent, parent_column in keys:
            count = self.sql(
                f'SELECT count(*) FROM "{table}" c WHERE c."{column}" IS NOT NULL AND NOT EXISTS '
                f'(SELECT 1 FROM "{parent}" p WHERE p."{parent_column}" = c."{column}")'
            )[0][0]
            if count:
                broken.append(f"{table}.{column} -> {parent}: {count:,} rows point nowhere")
        if broken:
            raise SystemExit("foreign keys broken by the load:\n  " + "\n  ".join(broken))

    def sequences(self) -> None:
        for table in [*LOADED_TABLES, "transactions_store"]:
            self.sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), greatest((SELECT max(id) FROM {table}), 1))"
            )

    # -- members -----------------------------------------------------------------------------------

    def members(self) -> None:
        first = ["Ada", "Ben", "Chloe", "Dev", "Eve", "Femi", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Max",
                 "Noor", "Omar", "Pia", "Quinn", "Rosa", "Sami", "Tess"]  # fmt: skip
        last = ["Smith", "Okafor", "Garcia", "Novak", "Chen", "Muller", "Silva", "Kowalski", "Haddad", "Ito",
                "Nguyen", "Patel", "Rossi", "Jensen", "Kim", "Moreau", "Costa", "Walsh", "Sato", "Ivanova"]  # fmt: skip
        # Member numbers C0000001...; phones +1 201 000 0001... in the stored form (E.164); the home store is
        # the member's id modulo the stores (the purchases below use the same expression).
        self.sql(
            """
            INSERT INTO customers_customer (id, member_number, name, email, phone, birthday, date_joined,
                                            home_store_id, referred_by_id)
            SELECT i, 'C' || lpad(i::text, 7, '0'),
                   (%(first)s::text[])[1 + (i * 7) %% 20] || ' ' || (%(last)s::text[])[1 + (i * 13 / 20) %% 20],
                   'member' || i || '@example.com', '+1' || (2010000000 + i)::text,
                   date '1950-01-01' + (random() * 20000)::int,
                   %(start)s::timestamptz - random() * interval '1500 days',
                   (%(stores)s::int[])[1 + i %% %(store_count)s], NULL
            FROM generate_series(1, %(customers)s) AS i
            """,
            {"first": first, "last": last, "start": self.start, "stores": self.store_ids, "store_count": STORES,
             "customers": self.customers},
        )  # fmt: skip

    # -- purchases and refunds ---------------------------------------------------------------------

    def plan(self) -> None:
        """An unlogged plan of every purchase: its member, store, amount in cents, moment, and its refund if
        any (the part refunded in cents and when). Purchase i becomes transaction i and earn entry i."""
        self.sql("DROP TABLE IF EXISTS bench_chain_plan")
        # Moments in order: purchase i at start + span * (i - u) / N; amounts log-normal by Box-Muller.
        self.sql(
            """
            CREATE UNLOGGED TABLE bench_chain_plan AS
            SELECT i, customer_id,
                   CASE WHEN random() < 0.8 THEN (%(stores)s::int[])[1 + customer_id %% %(store_count)s]
                        ELSE (%(stores)s::int[])[1 + floor(random() * %(store_count)s)::int] END AS store_id,
                   cents, occurred_at,
                   CASE WHEN refunded THEN CASE WHEN random() < 0.5 THEN cents
                                                ELSE 1 + floor(random() * cents)::int END END AS refund_cents,
                   CASE WHEN refunded THEN least(occurred_at + random() * interval '20 days',
                                                 %(end)s::timestamptz - interval '1 second') END AS refund_at
            FROM (
                SELECT i, 1 + floor(%(customers)s * power(random(), %(skew)s))::bigint AS customer_id,
                       greatest(100, least(40000, exp(8.6 + 0.8 * sqrt(-2 * ln(1 - random()))
                                                            * cos(2 * pi() * random()))))::int AS cents,
                       %(start)s::timestamptz + (%(end)s::timestamptz - %(start)s::timestamptz)
                           * ((i - random()) / %(transactions)s) AS occurred_at,
                       random() < %(refund_share)s AS refunded
                FROM generate_series(1, %(transactions)s) AS i
            ) AS drawn
            """,
            {"stores": self.store_ids, "store_count": STORES, "customers": self.customers, "skew": SKEW,
             "start": self.start, "end": self.end, "transactions": self.transactions, "refund_share": REFUND_SHARE},
        )  # fmt: skip
        self.sql("CREATE INDEX ON bench_chain_plan (i) WHERE refund_cents IS NOT NULL")
        self.sql("ANALYZE bench_chain_plan")

    def transaction_rows(self) -> None:
        n = self.transactions
        self.sql(
            """
            INSERT INTO transactions_transaction (id, customer_id, store_id, kind, amount, refunded_amount,
                occurred_at, receipt_number, refund_of_id, recorded_by_id, source, idempotency_key, recorded_at)
            SELECT i, customer_id, store_id, 'purchase', cents / 100.0, coalesce(refund_cents, 0) / 100.0,
                   occurred_at, 'G' || i, NULL, NULL, 'import', NULL, occurred_at
            FROM bench_chain_plan
            """
        )
        # Refund k (in purchase order) is transaction N + k.
        self.sql(
            """
            INSERT INTO transactions_transaction (id, customer_id, store_id, kind, amount, refunded_amount,
                occurred_at, receipt_number, refund_of_id, recorded_by_id, source, idempotency_key, recorded_at)
            SELECT %s + row_number() OVER (ORDER BY i), customer_id, store_id, 'refund', refund_cents / 100.0, 0,
                   refund_at, 'R' || i, i, NULL, 'import', NULL, refund_at
            FROM bench_chain_plan WHERE refund_cents IS NOT NULL ORDER BY i
            """,
            [n],
        )

    def earn_entries(self) -> None:
        """Earn entry i for purchase i: the points of each distinct amount from `earn_fields` (the engine, as
        the till and the importer compute them), put in a table and joined."""
        from rewards import engine
        from rewards.services.earning import earn_fields

        rule = self.version.engine_rule()
        amounts = [row[0] for row in self.sql("SELECT DISTINCT cents FROM bench_chain_plan")]
        rows = []
        for cents in amounts:
            fields = earn_fields(amount=Decimal(cents) / 100, rule=rule, context=engine.Context())
            rows.append((cents, fields.points, json.dumps(fields.facts), fields.stamped))
        self.sql("CREATE TEMP TABLE bench_chain_points (cents int PRIMARY KEY, points bigint, facts jsonb, "
                 "stamped boolean)")  # fmt: skip
        self.copy("bench_chain_points", rows)
        self.sql(
            """
            INSERT INTO rewards_pointsentry (id, customer_id, kind, points, effective_at, created_at, transaction_id,
                rule_version_id, created_by_id, corrects_id, reason, facts, note, bonus_key, stamped, recalculation_id)
            SELECT p.i, p.customer_id, 'earn', x.points, p.occurred_at, p.occurred_at, p.i, %s, NULL, NULL, '',
                   x.facts, '', '', x.stamped, NULL
            FROM bench_chain_plan p JOIN bench_chain_points x ON x.cents = p.cents
            """,
            [self.version.pk],
        )

    def reversal_entries(self) -> None:
        """Reversal entry N + k for refund N + k: `reversal_entry` (the till's and the importer's) once per
        distinct (purchase amount, refunded part), on unsaved stand-ins; its note names the purchase's
        receipt, written into it in SQL."""
        from rewards.models import PointsEntry
        from rewards.services.earning import reversal_entry
        from transactions.models import Transaction

        marker = "\x1freceipt\x1f"
        earned = PointsEntry(kind=PointsEntry.Kind.EARN, rule_version=self.version, facts={})
        pairs = self.sql("SELECT DISTINCT cents, refund_cents FROM bench_chain_plan WHERE refund_cents IS NOT NULL")
        rows = []
        for cents, refund_cents in pairs:
            purchase = Transaction(amount=Decimal(cents) / 100, customer_id=0, receipt_number=marker)
            refund = Transaction(amount=Decimal(refund_cents) / 100, occurred_at=self.start)
            entry = reversal_entry(refund=refund, purchase=purchase, refunded_before=Decimal(0), earned=earned)
            rows.append((cents, refund_cents, entry.points, entry.note, json.dumps(entry.facts)))
        self.sql("CREATE TEMP TABLE bench_chain_reversals (cents int, refund_cents int, points bigint, note text, "
                 "facts jsonb, PRIMARY KEY (cents, refund_cents))")  # fmt: skip
        self.copy("bench_chain_reversals", rows)
        self.sql(
            """
            INSERT INTO rewards_pointsentry (id, customer_id, kind, points, effective_at, created_at, transaction_id,
                rule_version_id, created_by_id, corrects_id, reason, facts, note, bonus_key, stamped, recalculation_id)
            SELECT %s + row_number() OVER (ORDER BY p.i), p.customer_id, 'reversal', x.points, p.refund_at,
                   p.refund_at, %s + row_number() OVER (ORDER BY p.i), %s, NULL, p.i, '', x.facts,
                   replace(x.note, %s, 'G' || p.i), '', false, NULL
            FROM bench_chain_plan p
            JOIN bench_chain_reversals x ON (x.cents, x.refund_cents) = (p.cents, p.refund_cents)
            WHERE p.refund_cents IS NOT NULL ORDER BY p.i
            """,
            [self.transactions, self.transactions, self.version.pk, marker],
        )

    def redemptions(self) -> None:
        """In the last month, about one member in ten who can afford a reward redeems the dearest they can,
        at their home store, from a cashier: after all their refunds (so no later reversal ever meets a
        spent balance, and every reversal is the full one the engine gives) and with the balance they had
        at that moment, as the redemption service requires."""
        free_coffee, ten_off, delivery = self.rewards
        last_month = self.end - dt.timedelta(days=28)
        first_entry = self.sql("SELECT max(id) FROM rewards_pointsentry")[0][0] + 1
        self.sql("DROP TABLE IF EXISTS bench_chain_redeem")
        self.sql(
            """
            CREATE UNLOGGED TABLE bench_chain_redeem AS
            WITH chosen AS (
                SELECT c.id AS customer_id, c.home_store_id,
                       %(last_month)s::timestamptz + random() * (%(end)s::timestamptz - %(last_month)s::timestamptz
                                                                 - interval '1 hour') AS redeemed_at
                FROM customers_customer c WHERE random() < 0.1
            ), balances AS (
                -- Grouped, not a subquery per member: the ledger's indexes are not there during the load.
                SELECT chosen.customer_id, chosen.home_store_id, chosen.redeemed_at,
                       coalesce(sum(e.points) FILTER (WHERE e.effective_at < chosen.redeemed_at), 0) AS balance
                FROM chosen LEFT JOIN rewards_pointsentry e ON e.customer_id = chosen.customer_id
                WHERE NOT EXISTS (SELECT 1 FROM bench_chain_plan r WHERE r.customer_id = chosen.customer_id
                                  AND r.refund_at >= chosen.redeemed_at)
                GROUP BY 1, 2, 3
            )
            SELECT row_number() OVER (ORDER BY redeemed_at, customer_id) AS k, customer_id, home_store_id,
                   redeemed_at,
                   CASE WHEN balance >= %(ten_cost)s THEN %(ten)s WHEN balance >= %(delivery_cost)s THEN %(delivery)s
                        ELSE %(coffee)s END AS reward_id,
                   CASE WHEN balance >= %(ten_cost)s THEN %(ten_cost)s WHEN balance >= %(delivery_cost)s
                        THEN %(delivery_cost)s ELSE %(coffee_cost)s END AS cost,
                   (%(cashiers)s::int[])[1 + customer_id %% %(cashier_count)s] AS cashier_id
            FROM balances WHERE balance >= %(coffee_cost)s
            """,
            {"last_month": last_month, "end": self.end, "ten": ten_off.pk, "ten_cost": ten_off.points_cost,
             "delivery": delivery.pk, "delivery_cost": delivery.points_cost, "coffee": free_coffee.pk,
             "coffee_cost": free_coffee.points_cost, "cashiers": self.cashier_ids,
             "cashier_count": len(self.cashier_ids)},
        )  # fmt: skip
        # The entry as rewards.services.redemption writes it: reason, note and facts from the reward.
        texts = {
            reward.pk: (f"redeemed {reward.name}"[:200], f"{reward.name}: {reward.gives()}") for reward in self.rewards
        }
        self.sql("CREATE TEMP TABLE bench_chain_reward_text (reward_id int PRIMARY KEY, reason text, note text)")
        self.copy("bench_chain_reward_text", [(pk, reason, note) for pk, (reason, note) in texts.items()])
        self.sql(
            """
            INSERT INTO rewards_pointsentry (id, customer_id, kind, points, effective_at, created_at, transaction_id,
                rule_version_id, created_by_id, corrects_id, reason, facts, note, bonus_key, stamped, recalculation_id)
            SELECT %s + r.k - 1, r.customer_id, 'redemption', -r.cost, r.redeemed_at, r.redeemed_at, NULL, NULL,
                   r.cashier_id, NULL, t.reason, jsonb_build_object('reward', r.reward_id, 'store', r.home_store_id),
                   t.note, '', false, NULL
            FROM bench_chain_redeem r JOIN bench_chain_reward_text t USING (reward_id) ORDER BY r.k
            """,
            [first_entry],
        )
        self.sql(
            """
            INSERT INTO rewards_redemption (customer_id, reward_id, points, store_id, redeemed_by_id, redeemed_at,
                entry_id, undone_by_id, undone_at, undo_entry_id, idempotency_key)
            SELECT customer_id, reward_id, cost, home_store_id, cashier_id, redeemed_at, %s + k - 1,
                   NULL, NULL, NULL, NULL
            FROM bench_chain_redeem ORDER BY k
            """,
            [first_entry],
        )

    def copy(self, table: str, rows: list[tuple]) -> None:
        with self.connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    # -- derived state -----------------------------------------------------------------------------

    def fold_rollup(self) -> None:
        from rewards.models import PointsEntry
        from rewards.services.ledger import fold_into_rollup

        # The report's windows (three per customer-month) are sorted by total in their own index: built once
        # after the fold instead of taking millions of insertions at random places (93 s of the fold at 1 M).
        saved = self.drop_indexes(WINDOW_TABLES)
        fold_into_rollup(PointsEntry.objects.all())
        self.restore_indexes(saved, WINDOW_TABLES)

    def fold_liability(self) -> None:
        from rewards.models import PointsEntry
        from rewards.services.liability import fold_into_liability

        fold_into_liability(PointsEntry.objects.all())

    def vacuum(self) -> None:
        for table in ["bench_chain_plan", "bench_chain_redeem"]:
            self.sql(f"DROP TABLE IF EXISTS {table}")
        self.sql("VACUUM ANALYZE")

    def check(self, command: str) -> str:
        from django.core.management import call_command

        out = io.StringIO()
        call_command(command, stdout=out, stderr=out)  # exits (SystemExit / CommandError) when it fails
        return out.getvalue().strip().splitlines()[-1] if out.getvalue().strip() else "ok"


# ---------------------------------------------------------------------------------------------------
# The site under test: gunicorn (production's config) and the huey worker, on one chain database.


class Site:
    """gunicorn with deploy/gunicorn.conf.py and `manage.py run_huey`, on one database, on 127.0.0.1:port,
    with production's settings (bench/chain_settings.py: plus the baseline view, over plain HTTP)."""

    def __init__(self, *, label: str, url: str, port: int, time_zone: str, web_workers: int) -> None:
        self.label, self.url, self.port = label, url, port
        self.base = f"http://127.0.0.1:{port}"
        folder = ROOT / "bench" / "data" / f"chain-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.chain_settings",
            "DATABASE_URL": url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TIME_ZONE": time_zone,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": str(web_workers),
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
            "DJANGO_LOG_LEVEL": "WARNING",  # one JSON line per request at INFO: the disk, not the site, would be timed
            "PYTHONPATH": str(ROOT),
        }
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        # As an upgrade does: the chain may have been built before the latest migrations.
        manage(self.env, "migrate", "--noinput", "-v", "0")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        for name, command in [
            # No control socket: its default path is one per machine user, and two sizes (or another gunicorn
            # on this machine) would take it from each other.
            (
                "web",
                [
                    str(gunicorn),
                    "--config",
                    str(ROOT / "deploy" / "gunicorn.conf.py"),
                    "--no-control-socket",
                    "loyalty_site.wsgi:application",
                ],
            ),
            ("worker", [sys.executable, str(ROOT / "manage.py"), "run_huey"]),
        ]:
            log = (self.folder / f"{name}.log").open("ab")
            self.processes.append(
                subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    self.stop()
                    raise SystemExit(f"{self.label}: a process exited at start; see {self.folder}/web.log, worker.log")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"{self.label}: gunicorn did not answer /healthz within 90 s; see {self.folder}/web.log")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT if process is self.processes[-1] else signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes = []

    def __enter__(self) -> Site:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------------
# Clients: a signed-in cashier at the till, a signed-in manager reading pages, and the baseline's poster.

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')


class Refused(Exception):
    """A request that did not get the answer the till gives when it works."""


def hidden(pattern: re.Pattern, html: str, what: str) -> str:
    found = pattern.search(html)
    if not found:
        raise Refused(f"no {what} in the page")
    return found.group(1)


class Browser:
    """A person's session: cookies, the CSRF token, signing in through the login form."""

    def __init__(self, base: str, username: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
        self.username = username

    def sign_in(self, next_page: str) -> httpx.Response:
        page = self.client.get("/accounts/login/", params={"next": next_page})
        token = hidden(TOKEN, page.text, "CSRF token")
        answer = self.client.post(
            "/accounts/login/",
            data={"csrfmiddlewaretoken": token, "username": self.username, "password": PASSWORD, "next": next_page},
        )
        if answer.status_code != 302:
            raise Refused(f"{self.username} could not sign in: {answer.status_code}")
        return self.client.get(next_page)

    def close(self) -> None:
        self.client.close()


class Cashier(Browser):
    """Records purchases through the till form as a cashier does: the form's CSRF token and idempotency key,
    the member number typed, Record purchase, and the confirmation page (which carries the next form)."""

    def open(self) -> None:
        self.form_from(self.sign_in("/till/"))

    def form_from(self, page: httpx.Response) -> None:
        if page.status_code != 200:
            raise Refused(f"the till answered {page.status_code}")
        self.token = hidden(TOKEN, page.text, "CSRF token")
        self.key = hidden(IDEMPOTENCY, page.text, "idempotency key")

    def purchase(self, member: str, amount: str) -> tuple[float, float]:
        """Record one purchase: (seconds to the recording's answer, seconds to the confirmation page)."""
        started = time.perf_counter()
        answer = self.client.post(
            "/till/",
            data={"csrfmiddlewaretoken": self.token, "idempotency_key": self.key, "customer": member,
                  "amount": amount, "receipt_number": ""},
        )  # fmt: skip
        recorded = time.perf_counter() - started
        location = answer.headers.get("location", "")
        if answer.status_code != 302 or "recorded=" not in location:
            # Not recorded (a refusal or a question shows the till again with 200): start again from a fresh form.
            why = "the same amount again within minutes" if "confirm_repeat" in answer.text else answer.status_code
            self.form_from(self.client.get("/till/"))
            raise Refused(f"the purchase was not recorded: {why} {location}")
        self.form_from(self.client.get(location))
        return recorded, time.perf_counter() - started


def purchases_plan(count: int, customers: int, seed: int) -> list[tuple[str, str]]:
    """The same members and amounts for every site: member numbers as the till's cashier types them."""
    rng = random.Random(seed)
    return [(f"C{rng.randint(1, customers):07d}", f"{rng.randint(500, 15000) / 100:.2f}") for _ in range(count)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------------------------------
# measure


def sizes_built(args) -> list[tuple[str, str, dict]]:
    found = []
    for transactions in args.sizes:
        name = database_name(args.prefix, transactions)
        url = database_url(args.server, name)
        record = build_record(url)
        if record is None:
            print(f"{name}: not built; run `bench/chain.py generate --transactions {transactions}` first")
            continue
        found.append((size_label(transactions), url, record))
    return found


def measure(args) -> None:
    built = sizes_built(args)
    if not built:
        raise SystemExit("no chain database is built")
    print(f"measuring {', '.join(label for label, _url, _record in built)} side by side, taking turns; "
          f"{os.cpu_count()} CPUs, load average {load_average()}")  # fmt: skip
    sites = [
        Site(label=label, url=url, port=args.port + index, time_zone=record["time_zone"], web_workers=args.web_workers)
        for index, (label, url, record) in enumerate(built)
    ]
    results: dict[str, dict[str, list[float]]] = {site.label: {} for site in sites}
    errors: dict[str, int] = {site.label: 0 for site in sites}
    try:
        for site in sites:
            site.start()
        record = built[0][2]
        first_month = dt.date.fromisoformat(record["first_month"])
        last_three = (first_month.replace(year=first_month.year + (first_month.month + 8) // 12,
                                          month=(first_month.month + 8) % 12 + 1))  # fmt: skip
        pages = {
            "monthly report, first page": f"/reports/points/?start={last_three:%Y-%m}&months=3&sort=-total",
            "customer statement": f"/reports/customers/{args.statement_customer}/",
            "liability roll-forward": f"/accounting/?start={first_month:%Y-%m}&months={record['months']}",
        }
        till(sites, min(record["customers"] for _l, _u, record in built), args, results, errors)
        read_pages(sites, pages, args.repeats, results)
    finally:
        for site in sites:
            site.stop()
    report(built, results, errors, args)


def till(sites: list[Site], customers: int, args, results, errors) -> None:
    """`--purchases` purchases on each site, from `--clients` cashiers at once, each cashier taking turns
    between the sites (the same member and amount on each), so that both meet the same load."""
    # Members and amounts new to each run (the till asks first when a member is charged the same amount again
    # within minutes), the same on each site.
    plan = purchases_plan(args.purchases, customers, seed=time.time_ns())
    print(
        f"till: {args.purchases} purchases on each of {len(sites)} sites from {args.clients} cashiers ...", flush=True
    )
    lock = threading.Lock()
    shares = [plan[index :: args.clients] for index in range(args.clients)]

    def cashier(number: int) -> None:
        tills = {}
        for site in sites:
            tills[site.label] = Cashier(site.base, f"bench-cashier-{number + 1:02d}")
            tills[site.label].open()
        for member, amount in shares[number]:
            for site in sites:
                try:
                    recorded, confirmed = tills[site.label].purchase(member, amount)
                except (Refused, httpx.HTTPError) as error:
                    with lock:
                        errors[site.label] += 1
                        if errors[site.label] <= 3:
                            print(f"  {site.label}: {error}")
                    continue
                with lock:
                    results[site.label].setdefault("till: record (POST)", []).append(recorded)
                    results[site.label].setdefault("till: record + confirmation", []).append(confirmed)
        for browser in tills.values():
            browser.close()

    threads = [threading.Thread(target=cashier, args=(number,)) for number in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def read_pages(sites: list[Site], pages: dict[str, str], repeats: int, results) -> None:
    """Each page `repeats` times on each site, signed in as the manager, taking turns between the sites."""
    managers = {site.label: Browser(site.base, "bench-manager") for site in sites}
    for browser in managers.values():
        browser.sign_in("/reports/")
    for name, path in pages.items():
        print(f"{name}: {path} x {repeats} ...", flush=True)
        for turn in range(repeats + 1):
            for site in sites:
                started = time.perf_counter()
                answer = managers[site.label].client.get(path)
                seconds = time.perf_counter() - started
                if answer.status_code != 200:
                    raise SystemExit(f"{site.label}: {path} answered {answer.status_code}")
                if turn:  # the first turn warms the caches
                    results[site.label].setdefault(name, []).append(seconds)
    for browser in managers.values():
        browser.close()


def load_average() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def report(built, results, errors, args) -> None:
    labels = [label for label, _url, _record in built]
    print()
    print(
        f"{'':36}"
        + "".join(f"{label:>22}" for label in labels)
        + ("   ratio " + "/".join(labels[::-1]) if len(labels) > 1 else "")
    )
    print(f"{'transactions':36}" + "".join(f"{record['transactions']:>22,}" for _l, _u, record in built))
    print(
        f"{'ledger entries':36}"
        + "".join(f"{record['counts']['rewards_pointsentry']:>22,}" for _l, _u, record in built)
    )
    rows = {}
    for name in results[labels[0]]:
        figures = {label: results[label].get(name, []) for label in labels}
        shown = [("p50", 0.5), ("p95", 0.95)] if name.startswith("till") else [("median", 0.5)]
        for which, share in shown:
            values = {label: percentile(figures[label], share) * 1000 for label in labels}
            line = f"{name + ' ' + which + ' (ms)':36}" + "".join(f"{values[label]:>22.1f}" for label in labels)
            ratio = None
            if len(labels) > 1 and values[labels[0]] > 0:
                ratio = values[labels[-1]] / values[labels[0]]
                line += f"   {ratio:5.2f}x {'meets' if ratio <= GOAL_RATIO else 'MISSES'} the goal (<= {GOAL_RATIO}x)"
            print(line)
            rows[f"{name} {which}"] = {"ms": values, "ratio": ratio}
    print(f"{'till purchases not recorded':36}" + "".join(f"{errors[label]:>22}" for label in labels))
    print(f"load average after: {load_average()}")
    target = ROOT / "bench" / "data" / "chain-measure.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "rows": rows,
                                  "errors": errors, "purchases": args.purchases, "clients": args.clients,
                                  "load_average": load_average()}, indent=2))  # fmt: skip
    print(f"written to {target}")


# ---------------------------------------------------------------------------------------------------
# load


def load(args) -> None:
    """Till purchases from `--clients` cashiers at once for `--seconds`, against the baseline (a bare view doing
    one INSERT, bench/chain_urls.py) from as many clients, in turns (`--rounds`): throughput and errors."""
    built = [entry for entry in sizes_built(args) if entry[0] == size_label(args.size)]
    if not built:
        raise SystemExit(f"the {size_label(args.size)} chain is not built")
    label, url, record = built[0]
    with psycopg_connect(url, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} (id bigserial PRIMARY KEY, amount numeric(12, 2) NOT NULL, "
            "at timestamptz NOT NULL)"
        )
    print(f"load test on {label} ({record['transactions']:,} transactions): {args.clients} clients, "
          f"{args.rounds} rounds of {args.seconds:.0f} s each way; {os.cpu_count()} CPUs, "
          f"load average {load_average()}")  # fmt: skip
    plan = purchases_plan(100_000, record["customers"], seed=time.time_ns())
    totals = {"till": {"done": 0, "errors": 0, "seconds": 0.0, "latency": []},
              "baseline": {"done": 0, "errors": 0, "seconds": 0.0, "latency": []}}  # fmt: skip
    with Site(
        label=label, url=url, port=args.port, time_zone=record["time_zone"], web_workers=args.web_workers
    ) as site:
        cashiers = [Cashier(site.base, f"bench-cashier-{number + 1:02d}") for number in range(args.clients)]
        for cashier in cashiers:
            cashier.open()
        posters = [httpx.Client(base_url=site.base, timeout=120) for _ in range(args.clients)]
        counter = itertools.count()
        for round_number in range(1, args.rounds + 1):
            for kind in ("till", "baseline"):
                done, errors, latency, seconds = run_clients(kind, cashiers, posters, plan, args.seconds, counter)
                totals[kind]["done"] += done
                totals[kind]["errors"] += errors
                totals[kind]["seconds"] += seconds
                totals[kind]["latency"] += latency
                print(f"  round {round_number} {kind:<8} {done / seconds:8.1f}/s  ({done} in {seconds:.1f} s, "
                      f"{errors} errors; p50 {percentile(latency, 0.5) * 1000:.0f} ms)", flush=True)  # fmt: skip
        for cashier in cashiers:
            cashier.close()
        for poster in posters:
            poster.close()
    till_rate = totals["till"]["done"] / totals["till"]["seconds"]
    base_rate = totals["baseline"]["done"] / totals["baseline"]["seconds"]
    print()
    print(f"{'':44}{'per second':>12}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}")
    for name, kind in [
        ("till purchases (record + confirmation)", "till"),
        ("baseline: bare view, one INSERT", "baseline"),
    ]:
        entry = totals[kind]
        p50, p95 = percentile(entry["latency"], 0.5) * 1000, percentile(entry["latency"], 0.95) * 1000
        print(f"{name:44}{entry['done'] / entry['seconds']:>12.1f}{entry['errors']:>8}{p50:>9.0f}{p95:>9.0f}")
    print(f"ratio till / baseline throughput: {till_rate / base_rate:.3f} (one purchase is 2 requests: "
          f"{2 * till_rate / base_rate:.3f} in requests)")  # fmt: skip
    print(f"load average after: {load_average()}")
    target = ROOT / "bench" / "data" / f"chain-load-{label}.json"
    target.write_text(json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "size": label,
                                  "clients": args.clients, "rounds": args.rounds, "seconds": args.seconds,
                                  "till_per_second": till_rate, "baseline_per_second": base_rate,
                                  "till_errors": totals["till"]["errors"],
                                  "baseline_errors": totals["baseline"]["errors"]},
                                 indent=2))  # fmt: skip
    print(f"written to {target}")


def run_clients(kind: str, cashiers: list[Cashier], posters: list[httpx.Client], plan, seconds: float, counter):
    """Every client in a loop until the time is up: (done, errors, latencies, seconds taken). `counter` goes on
    from round to round: a member charged the same amount again within minutes would be a question, not a sale."""
    lock = threading.Lock()
    done, errors, latency = [0], [0], []
    deadline = time.perf_counter() + seconds

    def till_client(cashier: Cashier) -> None:
        while time.perf_counter() < deadline:
            with lock:
                member, amount = plan[next(counter) % len(plan)]
            try:
                _recorded, confirmed = cashier.purchase(member, amount)
            except (Refused, httpx.HTTPError) as error:
                with lock:
                    errors[0] += 1
                    if errors[0] <= 3:
                        print(f"    {error!r}")
                continue
            with lock:
                done[0] += 1
                latency.append(confirmed)

    def baseline_client(poster: httpx.Client) -> None:
        while time.perf_counter() < deadline:
            with lock:
                _member, amount = plan[next(counter) % len(plan)]
            started = time.perf_counter()
            try:
                ok = poster.post("/bench/insert/", data={"amount": amount}).status_code == 204
            except httpx.HTTPError:
                ok = False
            with lock:
                if ok:
                    done[0] += 1
                    latency.append(time.perf_counter() - started)
                else:
                    errors[0] += 1

    target, clients = (till_client, cashiers) if kind == "till" else (baseline_client, posters)
    started = time.perf_counter()
    threads = [threading.Thread(target=target, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0], errors[0], latency, time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="database names start with it (default bench_chain)")
    parser.add_argument("--time-zone", default=os.environ.get("TIME_ZONE", "America/New_York"))
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("generate", help="build a chain's database once (reused when present)")
    build.add_argument("--transactions", type=int, default=1_000_000)
    build.add_argument("--customers", type=int, default=CUSTOMERS)
    build.add_argument("--seed", type=float, default=0.16)
    build.add_argument("--rebuild", action="store_true", help="drop and build again")
    sizes = [1_000_000, 10_000_000]
    side = commands.add_parser("measure", help="the till and three pages at each size, side by side")
    side.add_argument("--sizes", type=int, nargs="+", default=sizes, help="transactions of each chain (built)")
    side.add_argument("--purchases", type=int, default=300, help="till purchases on each size")
    side.add_argument("--clients", type=int, default=2, help="cashiers at once")
    side.add_argument("--repeats", type=int, default=15, help="reads of each page on each size")
    # Member 1 visits most (31 ledger entries at 1 M, 247 at 10 M): a full first page of the statement at both
    # sizes, and eight times the history at 10 M.
    side.add_argument("--statement-customer", type=int, default=1, help="the member whose statement is read")
    side.add_argument("--port", type=int, default=8716, help="the first size's port; the next ones follow")
    side.add_argument("--web-workers", type=int, default=3, help="gunicorn processes on each size")
    loaded = commands.add_parser("load", help="a load test of till purchases against a bare INSERT view")
    loaded.add_argument("--size", type=int, default=10_000_000, help="the chain's transactions (built)")
    loaded.add_argument("--clients", type=int, default=4)
    loaded.add_argument("--seconds", type=float, default=20.0, help="each round's length, each way")
    loaded.add_argument("--rounds", type=int, default=3)
    loaded.add_argument("--port", type=int, default=8726)
    loaded.add_argument("--web-workers", type=int, default=5, help="gunicorn processes (production: 2 x cores + 1)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        generate(args)
    elif args.command == "measure":
        measure(args)
    else:
        args.sizes = [args.size]
        load(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
