"""The accountant's figures on a large history: the roll-forward proved, and its page against a bare ledger scan.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_liability .venv/bin/python bench/liability.py --prepare

`--prepare` DROPS and recreates the database in DATABASE_URL (its name must start with "bench"), migrates it
and imports the generated record (bench/generate.py: 1,000,000 rows of 50,000 customers, January to March
2025, about 2% refunds; made under bench/data/ if missing) with `manage.py import_transactions`. Without it,
the database is used as it is. Then:

  prove    `manage.py check_liability` over the whole ledger: the liability roll-up equals the ledger, every
           month's closing balance equals the sum of all members' balances at its end (exit 1 otherwise)
  page     the liability roll-forward page for the three months (/accounting/?start=2025-01&months=3),
           rendered server side (the view called with a RequestFactory request), against
  scan     one bare scan of the ledger: SELECT count(*), sum(points) FROM rewards_pointsentry
  ageing   the ageing page at the end of March 2025, against the same scan (reported, no goal)

The page and the scan take turns (the machine is shared and noisy) and their medians are compared; the
issue's goal is a ratio of at most 1. `--demo` also proves the demo data on a database of its own
(<name>_demo, dropped and recreated). TIME_ZONE is America/New_York unless set.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import default_path, generate  # noqa: E402
from bench.report_page import _timed_alternately as timed_alternately  # noqa: E402
from bench.run import psycopg_connect, recreate_database  # noqa: E402

GOAL_RATIO = 1.0
PERIOD = ("2025-01", 3)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return result


def prepare(env: dict[str, str], url: str, rows: int, customers: int) -> None:
    path = default_path(rows)
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, rows=rows, customers=customers)
    recreate_database(url)
    manage(env, "migrate", "--noinput")
    print(f"importing {rows:,} rows ...", flush=True)
    started = time.perf_counter()
    result = manage(env, "import_transactions", str(path))
    print(f"imported in {time.perf_counter() - started:.1f} s: {result.stdout.strip().splitlines()[-1]}", flush=True)
    with psycopg_connect(url, autocommit=True) as connection:
        connection.execute("ANALYZE")


def prove_demo(env: dict[str, str], url: str) -> None:
    parts = urlsplit(url)
    demo_url = parts._replace(path=parts.path + "_demo").geturl()
    demo_env = {**env, "DATABASE_URL": demo_url}
    recreate_database(demo_url)
    manage(demo_env, "migrate", "--noinput")
    manage(demo_env, "load_demo_data")
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), "check_liability"], env=demo_env, capture_output=True, text=True
    )
    print(f"demo data  check_liability exit {result.returncode} in {time.perf_counter() - started:.1f} s")
    print("           " + "\n           ".join((result.stdout + result.stderr).strip().splitlines()))


def measure(repeats: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import RequestFactory

    from rewards import accounting_views
    from rewards.models import PointsEntry

    started = time.perf_counter()
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("check_liability", stdout=out, stderr=err)
        verdict = "proved"
    except SystemExit as exit_:  # CommandError with returncode, through call_command
        verdict = f"FAILED ({exit_.code})"
    except Exception as error:  # a failed proof is reported, not raised
        verdict = f"FAILED: {error}"
    print(f"prove      check_liability over {PointsEntry.objects.count():,} ledger entries: {verdict} "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    for line in (out.getvalue() + err.getvalue()).strip().splitlines():
        print(f"           {line}")

    # An active superuser has every permission without a query: the page's own queries are what is timed.
    user = get_user_model()(username="bench-manager", is_active=True, is_staff=True, is_superuser=True)
    factory = RequestFactory(SERVER_NAME="localhost")

    def page(view, path: str, marker: bytes):
        def render():
            request = factory.get(path)
            request.user = user
            response = view(request)
            assert response.status_code == 200, response.status_code
            assert marker in response.content
            return response

        return render

    def scan():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), sum(points) FROM rewards_pointsentry")
            return cursor.fetchone()

    start, months = PERIOD
    pages = [
        ("page", f"/accounting/?start={start}&months={months}", accounting_views.liability, b'id="roll-forward"'),
        ("ageing", "/accounting/ageing/?as_of=2025-03", accounting_views.ageing_page, b'id="ageing"'),
    ]
    for name, path, view, marker in pages:
        page_times, scan_times = timed_alternately(page(view, path, marker), scan, repeats)
        ratio = statistics.median(page_times) / statistics.median(scan_times)
        verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
        goal = f" ({verdict} the goal of <= {GOAL_RATIO})" if name == "page" else ""
        print(
            f"{name:<10} {path}: {statistics.median(page_times) * 1000:9.1f} ms (median of {repeats}; "
            f"fastest {min(page_times) * 1000:.1f} ms)\n"
            f"scan       one bare scan of the ledger: {statistics.median(scan_times) * 1000:9.1f} ms (median; "
            f"fastest {min(scan_times) * 1000:.1f} ms)\n"
            f"ratio      {name} / scan = {ratio:.3f}{goal}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", action="store_true", help="recreate the database and import the record")
    parser.add_argument("--demo", action="store_true", help="also prove the demo data on <name>_demo")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-measure", action="store_true", help="only prepare (and prove the demo data)")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database whose name starts with 'bench'")
    os.environ.setdefault("TIME_ZONE", "America/New_York")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings.local")
    os.environ.setdefault("DJANGO_DEBUG", "false")  # no query log: time what production would run
    env = {**os.environ}
    if args.prepare:
        prepare(env, url, args.rows, args.customers)
    if args.demo:
        prove_demo(env, url)
    if not args.no_measure:
        measure(args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
