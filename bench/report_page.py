"""How fast is the monthly points page on a large history? Server-side render against one bare GROUP BY.

The issue's goal: on PostgreSQL with 1,000,000 transactions and 50,000 customers over three months,
the first page of /reports/points/ sorted by total renders (server side) in no more than half the
time of one bare `GROUP BY customer, month` over those transactions.

    # on a PostgreSQL database that already holds the data (bench/generate.py, or --fill below):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_issue5 .venv/bin/python bench/report_page.py

    # the filtered pages (a search, a minimum total) read from the customers' windows against the grouped
    # roll-up they read before, in turns (medians and ratios):
    DATABASE_URL=... .venv/bin/python bench/report_page.py --filters

    # a stop-gap filler until bench/generate.py exists: N purchases of M customers over three months,
    # written with generate_series straight into an empty, migrated database
    DATABASE_URL=... .venv/bin/python bench/report_page.py --fill 1000000 --customers 50000

What is timed:
- the page: the view called with a RequestFactory request of a (unsaved) manager, from the request to
  the rendered HTML: the period and filter forms, the count-and-footer query, the page of 25 rows
  sorted by total, the store choices, the template. No sign-in or session queries.
- the baseline: `SELECT customer_id, date_trunc('month', occurred_at AT TIME ZONE tz), sum(amount)
  FROM transactions_transaction GROUP BY 1, 2`, wrapped in `SELECT count(*) FROM (...)` so that the
  database does all the grouping but only one row travels back: the cheapest form of the baseline,
  which makes the ratio conservative.
Each is run once to warm the caches, then both in turn `repeats` times; the medians are compared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "false")  # no query log: time what production would run

GOAL_RATIO = 0.5


def _setup() -> None:
    import django

    django.setup()


def _timed_alternately(first, second, repeats: int) -> tuple[list[float], list[float]]:
    """Run each once to warm the caches, then both in turn `repeats` times.

    Taking turns exposes both to the same load: on a machine shared with other work, timing one
    and then the other would compare two different moments.
    """
    first(), second()
    times = ([], [])
    for _ in range(repeats):
        for action, bucket in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            action()
            bucket.append(time.perf_counter() - started)
    return times


def report_period() -> tuple[dt.date, int]:
    """The three months ending with the latest month that has points: where the generated data lies."""
    from django.db.models import Max

    from rewards.calendar import add_months
    from rewards.local_time import current_month
    from rewards.models import CustomerMonthPoints

    latest = CustomerMonthPoints.objects.aggregate(latest=Max("month"))["latest"] or current_month()
    return add_months(latest, -2), 3


def measure(*, repeats: int = 5, start: dt.date | None = None, months: int | None = None) -> dict:
    """Time the first page of the monthly points report sorted by total against the bare GROUP BY.

    Returns the medians in seconds, their ratio (page / GROUP BY), the goal and the sizes.
    """
    _setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import RequestFactory

    from rewards.views import monthly_points_report
    from transactions.models import Transaction

    if start is None or months is None:
        start, months = report_period()
    path = f"/reports/points/?start={start:%Y-%m}&months={months}&sort=-total"
    # An active superuser has every permission without a query: the page's own queries are what is timed.
    manager = get_user_model()(username="bench-manager", is_active=True, is_staff=True, is_superuser=True)
    factory = RequestFactory(SERVER_NAME="localhost")

    def render_page():
        request = factory.get(path)
        request.user = manager
        response = monthly_points_report(request)
        assert response.status_code == 200, response.status_code
        assert b'id="monthly-points"' in response.content
        return response

    bare_sql = (
        "SELECT count(*) FROM ("
        "SELECT customer_id, date_trunc('month', occurred_at AT TIME ZONE %s) AS month, sum(amount) "
        "FROM transactions_transaction GROUP BY 1, 2) AS grouped"
    )

    def bare_group_by():
        with connection.cursor() as cursor:
            cursor.execute(bare_sql, [settings.TIME_ZONE])
            return cursor.fetchone()[0]

    page_times, group_times = _timed_alternately(render_page, bare_group_by, repeats)
    page, group = statistics.median(page_times), statistics.median(group_times)
    return {
        "path": path,
        "transactions": Transaction.objects.count(),
        "customer_months": bare_group_by(),
        "page_seconds": page,
        "group_by_seconds": group,
        "ratio": page / group if group else float("inf"),
        "page_seconds_each": page_times,
        "group_by_seconds_each": group_times,
        "goal_ratio": GOAL_RATIO,
        "repeats": repeats,
        "vendor": connection.vendor,
    }


def fill(*, transactions: int, customers: int, start: dt.date | None = None, seed: float = 0.42) -> None:
    """Write `transactions` purchases of `customers` customers over three months into an empty database.

    A stop-gap for measuring before bench/generate.py exists: straight SQL (generate_series), points
    by the rule version in force (every band rounded down, as the engine does), then the monthly
    roll-up by the same INSERT ... SELECT the services use. PostgreSQL only.
    """
    _setup()
    from django.db import connection, transaction

    from rewards.calendar import add_months
    from rewards.local_time import current_month, local_midnight
    from rewards.selectors import rule_version_at
    from rewards.services.ledger import fold_into_rollup
    from transactions.models import Store, Transaction

    if connection.vendor != "postgresql":
        raise SystemExit("--fill writes with PostgreSQL's generate_series: set DATABASE_URL to a PostgreSQL database")
    if Transaction.objects.exists():
        raise SystemExit("--fill only fills an empty database (transactions found)")
    start = start or add_months(current_month(), -3)
    first, end = local_midnight(start), local_midnight(add_months(start, 3))
    store = Store.objects.get(is_default=True)
    version = rule_version_at(first)
    if rule_version_at(end) != version:
        raise SystemExit("--fill assumes one rule version over the three months")
    bands = version.engine_rule().bands
    # floor(rate * (least(amount, next threshold) - threshold)) over the bands, on the whole-unit amount.
    terms = []
    for index, band in enumerate(bands):
        upper = f"least(floor(t.amount), {bands[index + 1].threshold})" if index + 1 < len(bands) else "floor(t.amount)"
        terms.append(f"floor({band.rate} * greatest(0, {upper} - {band.threshold}))")
    points_sql = " + ".join(terms) or "0"
    seconds = (end - first).total_seconds()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute(
            """
            INSERT INTO customers_customer (member_number, name, email, phone, date_joined)
            SELECT 'B' || lpad(i::text, 7, '0'), 'Bench customer ' || i, 'b' || i || '@example.com',
                   '555' || lpad(i::text, 7, '0'), %s::timestamptz - (random() * interval '700 days')
            FROM generate_series(1, %s) AS i
            """,
            [first, customers],
        )
        cursor.execute("SELECT min(id), max(id) FROM customers_customer WHERE member_number LIKE 'B%%'")
        low, high = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO transactions_transaction (customer_id, store_id, kind, amount, refunded_amount, occurred_at,
                receipt_number, source, recorded_at)
            SELECT %s + floor(random() * %s)::bigint, %s, 'purchase', round((5 + random() * 195)::numeric, 2), 0,
                   %s::timestamptz + random() * %s * interval '1 second', 'BENCH-' || i, 'import', now()
            FROM generate_series(1, %s) AS i
            """,
            [low, high - low + 1, store.pk, first, seconds, transactions],
        )
        cursor.execute(
            f"""
            INSERT INTO rewards_pointsentry (customer_id, kind, points, effective_at, created_at, transaction_id,
                rule_version_id, reason, note, facts, bonus_key, stamped)
            SELECT t.customer_id, 'earn', {points_sql}, t.occurred_at, now(), t.id, %s, '', '', '{{}}'::jsonb, '',
                   false
            FROM transactions_transaction t WHERE t.receipt_number LIKE 'BENCH-%%'
            """,
            [version.pk],
        )
        from rewards.models import PointsEntry

        fold_into_rollup(PointsEntry.objects.filter(transaction__receipt_number__startswith="BENCH-"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"filled {transactions:,} purchases of {customers:,} customers from {start:%Y-%m} in "
        f"{time.perf_counter() - started:.1f} s"
    )


# Filtered pages: a search on the name, on the member number, a broad and a narrow minimum total, both.
FILTERS = ("search=smith", "search=M0001", "min_total=1", "min_total=400", "search=an&min_total=100")


def measure_filters(*, repeats: int = 5, start: dt.date | None = None, months: int | None = None) -> list[dict]:
    """Each filtered first page sorted by total as the page reads it now (the customers' windows, searched and
    limited) against the grouped roll-up it read before (rewards.selectors.grouped_points, here called in the
    view's place), in turns: medians in seconds and their ratio (windows / grouped)."""
    _setup()
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from rewards import selectors, views

    if start is None or months is None:
        start, months = report_period()
    manager = get_user_model()(username="bench-manager", is_active=True, is_staff=True, is_superuser=True)
    factory = RequestFactory(SERVER_NAME="localhost")

    def grouped(*, start, months, **filters):
        return selectors.grouped_points(selectors.month_columns(start, months), **filters)

    def page(path: str, selector) -> None:
        views.monthly_points = selector
        try:
            request = factory.get(path)
            request.user = manager
            response = views.monthly_points_report(request)
        finally:
            views.monthly_points = selectors.monthly_points
        assert response.status_code == 200, response.status_code

    results = []
    for filters in FILTERS:
        path = f"/reports/points/?start={start:%Y-%m}&months={months}&sort=-total&{filters}"
        windows, grouped_times = _timed_alternately(
            lambda path=path: page(path, selectors.monthly_points), lambda path=path: page(path, grouped), repeats
        )
        now, before = statistics.median(windows), statistics.median(grouped_times)
        results.append({"filters": filters, "windows": now, "grouped": before, "ratio": now / before})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fill", type=int, metavar="TRANSACTIONS", help="first fill an empty database")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument(
        "--filters", action="store_true", help="time the filtered pages: the windows against the grouped roll-up"
    )
    args = parser.parse_args(argv)
    if args.fill:
        fill(transactions=args.fill, customers=args.customers)
    if args.filters:
        for row in measure_filters(repeats=args.repeats):
            print(
                f"{row['filters']:<26} windows {row['windows'] * 1000:8.1f} ms"
                f"   grouped {row['grouped'] * 1000:8.1f} ms"
                f"   ratio {row['ratio']:.2f}"
            )
        return 0
    result = measure(repeats=args.repeats)
    print(
        f"database: {result['vendor']}, {result['transactions']:,} transactions, "
        f"{result['customer_months']:,} customer-months"
    )
    print(
        f"page      {result['path']}: {result['page_seconds'] * 1000:8.1f} ms "
        f"(median of {result['repeats']}; fastest {min(result['page_seconds_each']) * 1000:.1f} ms)"
    )
    print(
        f"GROUP BY  customer, month over transactions: {result['group_by_seconds'] * 1000:8.1f} ms "
        f"(median; fastest {min(result['group_by_seconds_each']) * 1000:.1f} ms)"
    )
    verdict = "meets" if result["ratio"] <= GOAL_RATIO else "MISSES"
    print(f"ratio     page / GROUP BY = {result['ratio']:.3f} ({verdict} the goal of <= {GOAL_RATIO})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
