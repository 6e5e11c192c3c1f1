"""Reads off the primary, measured: the till's purchase latency while managers' reports run, with the reports
reading the primary and then the replica, in turns; what the replica costs a report; how far it falls behind.

    .venv/bin/python bench/replica.py                       # 300,000 purchases, 2 report clients, 3 rounds
    .venv/bin/python bench/replica.py --purchases 1000000 --customers 50000 --report-clients 3 --rounds 5

It makes its own primary and streaming replica on 127.0.0.1 (tests/ops/postgres_pair.py: initdb, pg_basebackup
-R, PostgreSQL's programs in /usr/lib/postgresql/15/bin, run as the postgres account when root), migrates the
site there, fills three months of purchases (bench/report_page.py's filler), and tears the pair down after.

What is timed, in the same process as a web worker would run it:
- the till: `record_purchase` (the service every till, API and import purchase goes through), one after the
  other, `--purchases-per-round` each round, p50 and p95;
- meanwhile `--report-clients` processes each render the monthly points report's first page sorted by total
  (the view, with its @reads_from_replica mark) as fast as they can: in "reports on the primary" rounds with
  the cookie of a browser that just posted (the mark's own way of reading the primary), in "reports on the
  replica" rounds without;
- quiet rounds, with no reports, as the baseline of the till.
Rounds take turns (quiet, primary, replica, quiet, ...) so that each is exposed to the same machine load.
On one machine both servers share its cores, so the figures show what the routing and the replay cost and
the lag under load, not the gain of a second machine's cores, which is the point of a replica in production.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ops.postgres_pair import start_pair, stop_pair, why_not  # noqa: E402 (after the path is set)

MODES = ("quiet", "reports on the primary", "reports on the replica")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(args) -> None:
    # Imported here, not at the top: the settings read DATABASE_URL and DATABASE_REPLICA_URL, which name the
    # pair main() has just started.
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from django.test import RequestFactory
    from django.utils import timezone

    from bench.report_page import fill, report_period
    from customers.models import Customer
    from ops.replica import PIN_COOKIE, replica_lag_seconds
    from rewards.views import monthly_points_report
    from transactions.models import Store
    from transactions.services import record_purchase

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    fill(transactions=args.purchases, customers=args.customers)
    print(f"set up in {time.perf_counter() - started:.0f} s (migrate, fill)")

    start, months = report_period()
    path = f"/reports/points/?start={start:%Y-%m}&months={months}&sort=-total"
    # An active superuser has every permission without a query: the report's own queries are what load it.
    manager = get_user_model()(username="bench-manager", is_active=True, is_staff=True, is_superuser=True)
    factory = RequestFactory(SERVER_NAME="localhost")
    store = Store.objects.get(is_default=True)
    customers = list(Customer.objects.order_by("pk")[:1000])

    def report(on_primary: bool) -> None:
        request = factory.get(path)
        request.user = manager
        if on_primary:
            request.COOKIES[PIN_COOKIE] = str(int(time.time()))
        response = monthly_points_report(request)
        assert response.status_code == 200, response.status_code

    def report_client(stop, on_primary: bool, done) -> None:
        """A manager's browser, in a process of its own as under gunicorn (threads would share the till's
        interpreter lock and time Python, not the database)."""
        connections.close_all()  # the parent's connections are not this process's to use
        try:
            while not stop.is_set():
                began = time.perf_counter()
                report(on_primary)
                done.put(time.perf_counter() - began)
        finally:
            connections.close_all()

    # Warm both servers' caches with the report once each.
    report(on_primary=True)
    report(on_primary=False)

    processes = multiprocessing.get_context("fork")
    till: dict[str, list[float]] = {mode: [] for mode in MODES}
    reports: dict[str, list[float]] = {mode: [] for mode in MODES}
    spans: dict[str, float] = dict.fromkeys(MODES, 0.0)
    lag_seen = 0.0
    receipt = 0
    for round_number in range(args.rounds):
        for mode in MODES:
            stop = processes.Event()
            done = processes.Queue()
            clients = []
            if mode != "quiet":
                # Forked without the till's open connections: each client opens its own.
                connections.close_all()
                clients = [
                    processes.Process(target=report_client, args=(stop, mode == MODES[1], done), daemon=True)
                    for _ in range(args.report_clients)
                ]
                for client in clients:
                    client.start()
                time.sleep(1)  # the reports under way before the till starts
            began = time.perf_counter()
            for _ in range(args.purchases_per_round):
                receipt += 1
                customer = customers[receipt % len(customers)]
                one = time.perf_counter()
                record_purchase(
                    customer=customer,
                    store=store,
                    amount=Decimal("42.50"),
                    occurred_at=timezone.now(),
                    receipt_number=f"REPLICA-BENCH-{receipt}",
                )
                till[mode].append(time.perf_counter() - one)
            spans[mode] += time.perf_counter() - began
            lag_seen = max(lag_seen, replica_lag_seconds())
            stop.set()
            for client in clients:
                client.join()
            while not done.empty():
                reports[mode].append(done.get())
        print(f"round {round_number + 1} of {args.rounds} done")

    print()
    print(f"{args.purchases:,} purchases of {args.customers:,} customers; report {path}")
    print(f"till: record_purchase, {args.purchases_per_round} a round, {args.rounds} rounds a mode")
    quiet_p50, quiet_p95 = percentile(till["quiet"], 0.5), percentile(till["quiet"], 0.95)
    for mode in MODES:
        p50, p95 = percentile(till[mode], 0.5), percentile(till[mode], 0.95)
        line = f"  {mode:<24} p50 {p50 * 1000:7.2f} ms  p95 {p95 * 1000:7.2f} ms"
        if mode != "quiet":
            line += f"   (x{p50 / quiet_p50:.2f} / x{p95 / quiet_p95:.2f} of quiet)"
            line += f"; reports finished {len(reports[mode]) / spans[mode]:.2f}/s"
            if reports[mode]:
                line += f", median {statistics.median(reports[mode]) * 1000:.0f} ms"
        print(line)
    primary, replica = MODES[1], MODES[2]
    print(
        "ratio, reports on the replica / on the primary: till p50 "
        f"{percentile(till[replica], 0.5) / percentile(till[primary], 0.5):.2f}, till p95 "
        f"{percentile(till[replica], 0.95) / percentile(till[primary], 0.95):.2f}, report median "
        f"{statistics.median(reports[replica]) / statistics.median(reports[primary]):.2f}"
    )
    print(f"replica lag: at most {lag_seen:.3f} s when sampled at the end of each round")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--purchases", type=int, default=300_000, help="purchases filled before measuring")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--report-clients", type=int, default=2)
    parser.add_argument("--purchases-per-round", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    reason = why_not()
    if reason:
        raise SystemExit(f"cannot make a primary and a replica here: {reason}")
    pair = start_pair(log_statements=False, shared_buffers="256MB")
    try:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="loyalty_site.settings.local",
            DJANGO_DEBUG="false",
            DATABASE_URL=pair.primary_url,
            DATABASE_REPLICA_URL=pair.replica_url,
            DJANGO_LOG_LEVEL="WARNING",
        )
        run(args)
    finally:
        stop_pair(pair)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
