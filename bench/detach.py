"""Detaching a busy month of the ledger (rewards.services.archive.detach_month), measured on a chain built by
bench/chain.py: what keeping and carrying cost beside PostgreSQL's bare DETACH PARTITION of the same month, and
what a member's balance costs before and after the month is detached (the balance adds the carried sums in the
same query).

    .venv/bin/python bench/chain.py --prefix bench_chain generate --transactions 1000000
    .venv/bin/python bench/detach.py --source bench_chain_1m --work bench_detach

The built database is copied (CREATE DATABASE <work> TEMPLATE <source>: the source is left as it was), and in
the copy the books are closed from the chain's first month through --month (default: the first), then:

  detach    detach_month of that month, and a bare DETACH PARTITION of its partition, each in a transaction
            rolled back, in turns, --repeats times: medians, and the ratio detach_month / bare
  balance   customer_balance of --members members with entries in the month, before and after the month is
            detached for good: the median per balance, and the ratio after / before

  lines     after it, ledger_balance (the balance with the lines of detached months, the query of the statement, the
            member's card and data download) against customer_balance, in turns: medians and the ratio

then that nothing moved: the sampled balances (ledger_balance's too), check_points_rollup's and check_liability's
findings. Printed with the load average; nothing is asserted. Bench scripts import the project after
django.setup(), as chain.py does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chain import DEFAULT_SERVER, build_record, database_url, django_env  # noqa: E402
from bench.report_page import _timed_alternately as timed_alternately  # noqa: E402
from bench.run import psycopg_connect  # noqa: E402


def copy_database(server: str, source: str, work: str) -> str:
    if work == source:
        raise SystemExit("--work must name a database other than --source: the measurement changes it")
    maintenance = urlsplit(database_url(server, source))._replace(path="/postgres").geturl()
    with psycopg_connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{work}"')
        connection.execute(f'CREATE DATABASE "{work}" TEMPLATE "{source}"')
    return database_url(server, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--source", required=True, help="a chain built by bench/chain.py generate")
    parser.add_argument("--work", required=True, help="the copy to measure in (dropped and made again)")
    parser.add_argument("--month", help="YYYY-MM to detach (default: the chain's first month)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--members", type=int, default=200)
    args = parser.parse_args()

    record = build_record(database_url(args.server, args.source))
    if record is None:
        raise SystemExit(f"{args.source}: no complete chain there (bench/chain.py generate builds one)")
    url = copy_database(args.server, args.source, args.work)
    os.environ.update(django_env(url, record["time_zone"]))
    import django

    django.setup()
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from rewards.calendar import months_from, parse_month
    from rewards.models import CustomerMonthPoints
    from rewards.partitions import LEDGER, partition_name
    from rewards.selectors import customer_balance, ledger_balance
    from rewards.services.archive import detach_month
    from rewards.services.books import close_month
    from rewards.services.ledger import rollup_differences
    from rewards.services.liability import prove_liability

    first = dt.date.fromisoformat(record["first_month"])
    month = parse_month(args.month) if args.month else first
    manager = get_user_model().objects.get(username="bench-manager")
    for closing in months_from(first, (month.year - first.year) * 12 + month.month - first.month + 1):
        close_month(month=closing, closed_by=manager)
    members = list(
        CustomerMonthPoints.objects.filter(month=month, entries__gt=0)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)[: args.members]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partition_name(month)}")
        (entries,) = cursor.fetchone()

    def bare() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {LEDGER} DETACH PARTITION {partition_name(month)}")
            transaction.set_rollback(True)

    def ours() -> None:
        with transaction.atomic():
            detach_month(month)
            transaction.set_rollback(True)

    def balances() -> tuple[float, list[int]]:
        started = time.perf_counter()
        found = [customer_balance(member) for member in members]
        return (time.perf_counter() - started) / len(members), found

    bare_times, our_times = timed_alternately(bare, ours, args.repeats)
    before_runs = [balances() for _ in range(args.repeats)]
    detached = detach_month(month)
    after_runs = [balances() for _ in range(args.repeats)]
    plain_times, lines_times = timed_alternately(
        lambda: [customer_balance(member) for member in members],
        lambda: [ledger_balance(member) for member in members],
        args.repeats,
    )
    with_lines = [ledger_balance(member).balance for member in members]
    before = statistics.median(seconds for seconds, _ in before_runs)
    after = statistics.median(seconds for seconds, _ in after_runs)
    bare_median, our_median = statistics.median(bare_times), statistics.median(our_times)

    print(f"{args.source}: {record['transactions']:,} transactions, {month:%Y-%m} holds {entries:,} ledger entries")
    print(f"kept in the ledger: {detached.kept:,} entries; members carrying the rest: "
          f"{CustomerMonthPoints.objects.filter(month=month).count():,} with points in the month")  # fmt: skip
    print(f"{'measure':<10} {'baseline ms':>12} {'ours ms':>10} {'ratio':>7}")
    print(f"{'detach':<10} {bare_median * 1000:>12.1f} {our_median * 1000:>10.1f} {our_median / bare_median:>7.1f}"
          "   (bare DETACH PARTITION -> detach_month)")  # fmt: skip
    print(f"{'balance':<10} {before * 1000:>12.3f} {after * 1000:>10.3f} {after / before:>7.2f}"
          f"   (before -> after, median of {len(members)} members)")  # fmt: skip
    plain, lines = statistics.median(plain_times) / len(members), statistics.median(lines_times) / len(members)
    print(f"{'lines':<10} {plain * 1000:>12.3f} {lines * 1000:>10.3f} {lines / plain:>7.2f}"
          "   (customer_balance -> ledger_balance, after)")  # fmt: skip
    same = before_runs[0][1] == after_runs[0][1] == with_lines
    proof = prove_liability()
    print(f"balances unchanged: {same}; check_points_rollup: {len(rollup_differences())} differences; "
          f"check_liability: {'proved' if proof.ok else 'NOT proved'}")  # fmt: skip
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
