"""Benchmark the import and the report against bare PostgreSQL and a naive per-row Python computation.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_issue3 .venv/bin/python bench/run.py --rows 300000 1000000

The database named in DATABASE_URL is DROPPED and created afresh for each size (its name must contain "bench").
The record comes from bench/generate.py (made if missing, under bench/data/). Measurements, in order:

  bare_copy      psql's \\copy of the file into a plain table with the same columns, no index or key
  import         `manage.py import_transactions` in a subprocess (its peak memory too: ru_maxrss)
  ledger_floor   the same rows copied once more inside the project's tables by INSERT ... SELECT and
                 rolled back: what the schema's indexes and keys cost the database alone
  bare_group_by  one GROUP BY customer, month over the plain table, computing the classic rule's points
  report         `manage.py points_report` for the three months (in this process, so without start-up)
  report_page    the managers' report page (first page, sorted by total) against a bare GROUP BY customer,
                 month over the project's transactions, taking turns (goal: at most half)
  naive_python   the per-row Python computation most published solutions do: read every row, add up
                 points per customer and month in dictionaries
  report_file    `manage.py points_report --file` of the same record (nothing written; in this process): one
                 streaming pass in Python over a good file (transactions.import_tally), in two parts at once (a
                 forked process reads the second) where the file and the machine allow, the import's stages for
                 any other file; then its --compare against the books the import wrote (must be equal)

Each is a named function registered with @measurement; add one by writing another (run in the order
they are defined). The ratios and a cross-check (the report's totals equal the naive computation's)
are printed at the end and written to bench/data/results-<rows>.json. Given several sizes (--rows 300000
1000000), each is measured in turn and the import's growth is printed: its time at the largest size over its
time at the smallest, against the rows' ratio (linear growth: 1,000,000 / 300,000 = 3.33; the goal is 3.6 at most).

Goals (issue 11): import / bare_copy at most 12x at 300,000 and 1,000,000 rows, the growth at most 3.6, the
import's peak memory under 500 MB, naive_python / report_file at least 1 (the file report at least as fast).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import default_path, generate  # noqa: E402

START_MONTH = "2025-01"
PLAIN_TABLE = "bench_plain"
PLAIN_COLUMNS = (
    "customer_id text, customer_name text, transaction_id text, amount numeric(12,2), occurred_at timestamptz, "
    "store text, kind text, refund_of text"
)


@dataclass
class Context:
    database_url: str
    path: Path
    rows: int
    time_zone: str
    repeat: int
    env: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)


MEASUREMENTS: dict[str, Callable[[Context], None]] = {}


def measurement(name: str):
    def register(function: Callable[[Context], None]) -> Callable[[Context], None]:
        MEASUREMENTS[name] = function
        return function

    return register


def best_of(repeat: int, function: Callable[[], object]) -> tuple[float, object]:
    """The median of `repeat` timed runs (queries vary with the shared machine's load) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


# ---------------------------------------------------------------------------------------------------
# Setting up the database.


def psycopg_connect(url: str, **kwargs):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname=parts.path.lstrip("/"),
        **kwargs,
    )


def recreate_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: the benchmark's database name must contain 'bench'")
    maintenance = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg_connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def manage(context: Context, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *args], env=context.env, check=True, capture_output=True, text=True
    )


def setup_django(context: Context) -> None:
    os.environ.update(context.env)
    import django

    django.setup()


# ---------------------------------------------------------------------------------------------------
# The measurements.


@measurement("bare_copy")
def bare_copy(context: Context) -> None:
    with psycopg_connect(context.database_url, autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {PLAIN_TABLE}")
        connection.execute(f"CREATE TABLE {PLAIN_TABLE} ({PLAIN_COLUMNS})")
    started = time.perf_counter()
    if shutil.which("psql"):
        subprocess.run(  # noqa: S603
            [  # noqa: S607 (psql from PATH, as a person would run it)
                "psql", context.database_url, "-q", "-v", "ON_ERROR_STOP=1", "-c",
                f"\\copy {PLAIN_TABLE} FROM '{context.path}' WITH (FORMAT csv, HEADER true)",
            ],
            env={**context.env, "PGTZ": context.time_zone},
            check=True,
        )  # fmt: skip
    else:  # the same COPY through psycopg
        with psycopg_connect(context.database_url, autocommit=True) as connection:
            connection.execute(f"SET TIME ZONE '{context.time_zone}'")
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY {PLAIN_TABLE} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
                context.path.open("rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
    context.seconds["bare_copy"] = time.perf_counter() - started
    with psycopg_connect(context.database_url, autocommit=True) as connection:
        connection.execute(f"ANALYZE {PLAIN_TABLE}")


@measurement("import")
def project_import(context: Context) -> None:
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), "import_transactions", str(context.path)],
        env=context.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Read the (short) output while it runs, then reap the child ourselves to get its own rusage.
    stdout, stderr = process.stdout.read(), process.stderr.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    context.seconds["import"] = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"the import failed:\n{stderr[-3000:]}")
    context.notes["import_peak_memory_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux: kilobytes
    context.notes["import_summary"] = stdout.strip()
    with psycopg_connect(context.database_url, autocommit=True) as connection:
        connection.execute("ANALYZE")


@measurement("ledger_floor")
def ledger_floor(context: Context) -> None:
    """What the database alone needs to store the same rows in the project's own tables, with their indexes,
    unique and check constraints and foreign keys: the imported transactions and earn entries copied once
    more by INSERT ... SELECT (no Python, no parsing), then rolled back. The import cannot beat this."""
    copy_transactions = (
        "INSERT INTO transactions_transaction (customer_id, store_id, kind, amount, refunded_amount, occurred_at, "
        "receipt_number, refund_of_id, source, recorded_at) "
        "SELECT customer_id, store_id, kind, amount, refunded_amount, occurred_at, receipt_number || '~', "
        "refund_of_id, source, recorded_at FROM transactions_transaction"
    )
    # As bonus entries (an earn entry is unique per purchase); same columns, same indexes.
    copy_entries = (
        "INSERT INTO rewards_pointsentry (customer_id, kind, points, effective_at, created_at, transaction_id, "
        "rule_version_id, reason, note, facts, bonus_key, stamped) "
        "SELECT customer_id, 'bonus', points, effective_at, created_at, transaction_id, rule_version_id, "
        "'floor', note, facts, bonus_key, stamped FROM rewards_pointsentry WHERE kind = 'earn'"
    )
    with psycopg_connect(context.database_url) as connection:
        started = time.perf_counter()
        connection.execute("SET CONSTRAINTS ALL IMMEDIATE")
        connection.execute(copy_transactions)
        connection.execute(copy_entries)
        context.seconds["ledger_floor"] = time.perf_counter() - started
        connection.rollback()


def points_sql(amount: str) -> str:
    """The classic rule in SQL, for the bare GROUP BY: 1 point per whole unit from 50 to 100, 2 above 100."""
    units = f"floor({amount})"
    return f"(greatest(0, least({units}, 100) - 50) + 2 * greatest(0, {units} - 100))::bigint"


@measurement("bare_group_by")
def bare_group_by(context: Context) -> None:
    sql = (
        f"SELECT customer_id, date_trunc('month', occurred_at AT TIME ZONE %s) AS month, "
        f"sum({points_sql('amount')}) FILTER (WHERE kind IS DISTINCT FROM 'refund'), count(*) "
        f"FROM {PLAIN_TABLE} GROUP BY 1, 2"
    )
    with psycopg_connect(context.database_url) as connection:

        def query():
            return connection.execute(sql, [context.time_zone]).fetchall()

        seconds, rows = best_of(context.repeat, query)
    context.seconds["bare_group_by"] = seconds
    context.notes["bare_group_by_rows"] = len(rows)


@measurement("report")
def report(context: Context) -> None:
    setup_django(context)
    from django.core.management import call_command

    from rewards.selectors import monthly_points

    def command():
        out = io.StringIO()
        call_command("points_report", "--start", START_MONTH, "--months", "3", stdout=out)
        return out.getvalue()

    seconds, text = best_of(context.repeat, command)
    context.seconds["report"] = seconds
    import datetime as dt

    selector_seconds, rows = best_of(
        context.repeat, lambda: list(monthly_points(start=dt.date(2025, 1, 1), months=3).rows)
    )
    context.notes["report_selector_seconds"] = round(selector_seconds, 3)
    totals = {row[0]: int(row[-1]) for row in list(csv.reader(io.StringIO(text)))[1:]}
    context.notes["report_rows"] = len(totals)
    context.notes["_report_totals"] = totals
    del rows


def naive_points(amount: float) -> int:
    units = int(amount)
    return max(0, min(units, 100) - 50) + 2 * max(0, units - 100)


@measurement("naive_python")
def naive_python(context: Context) -> None:
    """Row by row in Python, as most published solutions do (floats and all); refunds take back the points
    the refunded part earned, so that its totals can be checked against the project's report."""
    started = time.perf_counter()
    per_month: dict[tuple[str, str], int] = defaultdict(int)
    purchases: dict[str, list] = {}
    with context.path.open(encoding="utf-8-sig", newline="") as stream:
        for row in csv.DictReader(stream):
            customer, month, amount = row["customer_id"], row["occurred_at"][:7], float(row["amount"])
            if row["kind"] == "refund":
                bought = purchases[row["refund_of"]]
                before = bought[0] - bought[1]
                bought[1] += amount
                per_month[(customer, month)] += naive_points(before - amount + 1e-9) - naive_points(before + 1e-9)
            else:
                purchases[row["transaction_id"]] = [amount, 0.0]
                per_month[(customer, month)] += naive_points(amount)
    totals: dict[str, int] = defaultdict(int)
    for (customer, _month), points in per_month.items():
        totals[customer] += points
    context.seconds["naive_python"] = time.perf_counter() - started
    context.notes["_naive_totals"] = dict(totals)


@measurement("report_file")
def report_file(context: Context) -> None:
    """The accountant's check of a till export: the record's points per customer and month under the program's
    rules, by the import's parsers and earning code in one pass, writing nothing; then --compare against what the
    import wrote."""
    setup_django(context)
    from django.core.management import CommandError, call_command

    started = time.perf_counter()
    out = io.StringIO()
    call_command("points_report", "--file", str(context.path), stdout=out, stderr=io.StringIO())
    context.seconds["report_file"] = time.perf_counter() - started
    totals = {row[0]: int(row[-1]) for row in list(csv.reader(io.StringIO(out.getvalue())))[1:]}
    context.notes["_file_totals"] = totals
    if "import" in context.seconds:
        try:
            call_command("points_report", "--file", str(context.path), "--compare", stdout=io.StringIO(),
                         stderr=io.StringIO())  # fmt: skip
            context.notes["report_file_equals_books"] = True
        except CommandError as refusal:
            context.notes["report_file_equals_books"] = str(refusal)


def exact_points(amount: Decimal) -> int:
    units = int(amount.to_integral_value(rounding=ROUND_FLOOR))
    return max(0, min(units, 100) - 50) + 2 * max(0, units - 100)


# ---------------------------------------------------------------------------------------------------


@measurement("report_page")
def report_page(context: Context) -> None:
    """The managers' page, first page sorted by total, rendered server side, taking turns with one bare
    GROUP BY customer, month over the project's transactions table (bench/report_page.py)."""
    setup_django(context)
    import datetime as dt

    from bench.report_page import measure

    result = measure(repeats=max(context.repeat, 5), start=dt.date(2025, 1, 1), months=3)
    context.seconds["report_page"] = result["page_seconds"]
    context.seconds["page_group_by"] = result["group_by_seconds"]


def ratio(context: Context, top: str, bottom: str) -> float | None:
    if top in context.seconds and bottom in context.seconds and context.seconds[bottom] > 0:
        return round(context.seconds[top] / context.seconds[bottom], 2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000], help="one or more sizes, measured in turn")
    parser.add_argument("--customers", type=int, help="default: rows / 20 (50,000 for a million rows)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each query; the median is reported")
    parser.add_argument("--time-zone", default="America/New_York")
    parser.add_argument("--only", nargs="*", choices=list(MEASUREMENTS), help="run only these measurements")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/bench_issue3")
    runs = [measure_size(args, rows, database_url) for rows in args.rows]
    if len(runs) > 1:
        small, large = runs[0], runs[-1]
        print()
        print(f"growth from {small.rows:,} to {large.rows:,} rows (rows x{large.rows / small.rows:.2f}):")
        for name in ("import", "bare_copy", "report_file"):
            if name in small.seconds and name in large.seconds:
                print(f"  {name:<16}time x{large.seconds[name] / small.seconds[name]:.2f}")
        for run in runs:
            print(f"  {run.rows:>9,} rows: import / bare_copy {ratio(run, 'import', 'bare_copy')}×, "
                  f"peak memory {run.notes.get('import_peak_memory_mb')} MB")  # fmt: skip


def measure_size(args, rows: int, database_url: str) -> Context:
    path = default_path(rows)
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, rows=rows, customers=args.customers or max(1, rows // 20))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "loyalty_site.settings.local",
        "DJANGO_DEBUG": "false",  # no query log: the import and report run as in production
        "TIME_ZONE": args.time_zone,
        "PYTHONPATH": str(ROOT),
    }
    context = Context(database_url, path, rows, args.time_zone, args.repeat, env)

    print(f"recreating the database and migrating ({urlsplit(database_url).path.lstrip('/')}) ...", flush=True)
    recreate_database(database_url)
    manage(context, "migrate", "--noinput", "-v", "0")

    for name, function in MEASUREMENTS.items():
        if args.only and name not in args.only:
            continue
        print(f"{name} ...", flush=True)
        function(context)
        if name in context.seconds:
            print(f"  {context.seconds[name]:.3f} s", flush=True)

    report_totals = context.notes.pop("_report_totals", None)
    naive_totals = context.notes.pop("_naive_totals", None)
    file_totals = context.notes.pop("_file_totals", None)
    if file_totals is not None and report_totals is not None:
        context.notes["report_file_equals_report"] = file_totals == report_totals
    if report_totals is not None and naive_totals is not None:
        context.notes["report_equals_naive"] = report_totals == naive_totals
        if report_totals != naive_totals:
            differing = sorted(k for k in report_totals.keys() | naive_totals.keys()
                               if report_totals.get(k) != naive_totals.get(k))  # fmt: skip
            context.notes["report_naive_differences"] = len(differing)
    ratios = {
        "import / bare_copy": ratio(context, "import", "bare_copy"),
        "ledger_floor / bare_copy": ratio(context, "ledger_floor", "bare_copy"),
        "import / ledger_floor": ratio(context, "import", "ledger_floor"),
        "report / bare_group_by": ratio(context, "report", "bare_group_by"),
        "naive_python / report": ratio(context, "naive_python", "report"),
        "naive_python / bare_group_by": ratio(context, "naive_python", "bare_group_by"),
        "naive_python / report_file": ratio(context, "naive_python", "report_file"),
        "report_page / page_group_by": ratio(context, "report_page", "page_group_by"),
    }
    print()
    print(f"rows {rows:,}  ·  time zone {args.time_zone}  ·  {os.cpu_count()} CPUs  ·  load {os.getloadavg()[0]:.1f}")
    for name, seconds in context.seconds.items():
        print(f"  {name:<16}{seconds:>10.3f} s")
    for name, value in ratios.items():
        if value is not None:
            print(f"  {name:<30}{value:>8.2f}×")
    for name, value in context.notes.items():
        if name != "import_summary":
            print(f"  {name}: {value}")
    if "import_summary" in context.notes:
        print(context.notes["import_summary"])
    results = {"rows": rows, "time_zone": args.time_zone, "seconds": context.seconds, "ratios": ratios,
               "notes": context.notes}  # fmt: skip
    target = path.parent / f"results-{rows}.json"
    target.write_text(json.dumps(results, indent=2, default=str))
    print(f"written to {target}")
    if "django" in sys.modules:  # the in-process measurements' connection, before the next size drops the database
        from django.db import connections

        connections.close_all()
    return context


if __name__ == "__main__":
    main()
