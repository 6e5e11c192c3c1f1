"""The till's search for a member by part of a name, email, member number or phone (customers.selectors.
find_customers, as the till and the API call it) on a chain's table of members, with the trigram indexes of
customers 0005 and without them, in turns.

    .venv/bin/python bench/till_search.py --database bench_till_search --customers 500000

The database (its name must contain "bench") is dropped, made afresh and migrated, and --customers members are
generated in SQL: a first name and a surname out of a few dozen each (some accented, some hyphenated), an email
made of them, a phone (one member in ten has none) and a ten-digit member number. The trigram indexes are made
after the rows, then VACUUM ANALYZE, as a table that has lived a while would be. --reuse measures the database an
earlier run built.

Then, for each text below, find_customers(text) with the indexes, and in a transaction that dropped them (rolled
back after the search, so the indexes come back as they were), in turns, --repeats times: medians and the ratio
without / with, and how each plan reads the members (the indexes it scans, or a sequential scan). Texts:

  surname     part of a surname ("kowal": Kowalski, Kowalski-Berg): one member in 30, the first 20 by name shown
  full name   a first name and a surname: one member in 2,280
  email       the part before the @ of one member's email (its digits also search the phones)
  phone       seven digits of one member's phone
  number      the first nine digits of a member number (ten members start so)
  nobody      a name no member has: the till says "no match" (and offers enrolment)
  two chars   "lu" (a first name here): no trigram in two letters, so no index serves them, with or without

and what the indexes cost the writes: --enrol members enrolled by one INSERT ... SELECT, as the import enrols
the new members of a record, with the indexes and without them (each rolled back), in turns, 5 times.

Printed with the load average; nothing is asserted. Bench scripts import the project after django.setup(), as
chain.py does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chain import DEFAULT_SERVER, database_url, load_average  # noqa: E402
from bench.report_page import _timed_alternately as timed_alternately  # noqa: E402
from bench.run import recreate_database  # noqa: E402

FIRST_NAMES = [
    "Ann", "Anna", "Bob", "Carla", "Chloé", "Dmitri", "Élodie", "Emma", "Eve", "Farid", "Grace", "Hana", "Ian",
    "Inés", "Jakub", "José", "Kenji", "Lars", "Léa", "Lu", "Maria", "Mohammed", "Nadia", "Noah", "Olivia", "Oskar",
    "Priya", "Quentin", "Rosa", "Sam", "Søren", "Tomás", "Uma", "Victor", "Wei", "Yusuf", "Zoë", "Zoe",
]  # fmt: skip
SURNAMES = [
    "Abara", "Berg", "Castillo", "Dubois", "Durand", "Eriksson", "Fernández", "García", "Gómez", "Haddad", "Ivanova",
    "Jensen", "Kim", "Kowalski", "Kowalski-Berg", "Larsen", "Lee", "López", "Martin", "Müller", "Nakamura", "Nguyen",
    "O'Brien", "Okafor", "Patel", "Petrov", "Quinn", "Rossi", "Schmidt", "Silva", "Smith", "Søndergaard", "Tanaka",
    "Torres", "Ueda", "Van der Berg", "Wang", "Weber", "Williams", "Wójcik", "Xu", "Yilmaz", "Zhang", "Zieliński",
    "Ahmed", "Brown", "Chen", "Costa", "Dupont", "Fischer", "Hansen", "Johnson", "Kaur", "Moreau", "Novak", "Popescu",
    "Reyes", "Santos", "Taylor", "Walsh",
]  # fmt: skip
DOMAINS = ["example.com", "mail.test", "post.example", "inbox.example.org"]
TRIGRAM_INDEXES = [
    "customer_name_trgm_idx",
    "customer_email_trgm_idx",
    "customer_number_trgm_idx",
    "customer_phone_trgm_idx",
]


def build(customers: int) -> None:
    """Migrate, then the members, the trigram indexes made after them (as a bulk load would) and statistics."""
    from django.core.management import call_command
    from django.db import connection

    from customers.models import Customer

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    trigram = [index for index in Customer._meta.indexes if index.name in TRIGRAM_INDEXES]
    with connection.schema_editor() as editor:
        for index in trigram:
            editor.remove_index(Customer, index)
    print(f"migrated in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Every pair of a first name and a surname occurs (the surname follows n / len(FIRST_NAMES)).
        cursor.execute(
            """
            INSERT INTO customers_customer (member_number, name, email, phone, date_joined)
            SELECT (1000000000 + n)::text, first || ' ' || last,
                   CASE WHEN n %% 7 = 0 THEN ''
                        ELSE lower(replace(replace(first || '.' || last, ' ', ''), '''', '')) || n || '@' || domain
                   END,
                   CASE WHEN n %% 10 = 0 THEN ''
                        ELSE '+1' || (201 + n %% 700)::text || lpad(((n::bigint * 7919) %% 10000000)::text, 7, '0')
                   END,
                   now() - make_interval(days => n %% 3650)
            FROM (SELECT n, (%(first)s::text[])[1 + (n * 31) %% %(firsts)s] AS first,
                         (%(last)s::text[])[1 + ((n / %(firsts)s) * 17) %% %(lasts)s] AS last,
                         (%(domains)s::text[])[1 + n %% %(domain_count)s] AS domain
                  FROM generate_series(1, %(customers)s) AS n) AS g
            """,
            {
                "first": FIRST_NAMES,
                "firsts": len(FIRST_NAMES),
                "last": SURNAMES,
                "lasts": len(SURNAMES),
                "domains": DOMAINS,
                "domain_count": len(DOMAINS),
                "customers": customers,
            },
        )
    print(f"{customers:,} members written in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    with connection.schema_editor() as editor:
        for index in trigram:
            editor.add_index(Customer, index)
    print(f"trigram indexes made in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE customers_customer")
        cursor.execute(
            "SELECT relname, pg_size_pretty(pg_relation_size(oid)) FROM pg_class WHERE relname = ANY(%s) "
            "OR relname = 'customers_customer' ORDER BY relname",
            [TRIGRAM_INDEXES],
        )
        print("sizes: " + ", ".join(f"{name} {size}" for name, size in cursor.fetchall()))


ENROL = """
    INSERT INTO customers_customer (member_number, name, email, phone, date_joined)
    SELECT (5000000000 + n)::text, 'New Member ' || n, 'new' || n || '@example.com',
           '+1555' || lpad(n::text, 7, '0'), now()
    FROM generate_series(1, %s) AS n
"""


def texts() -> dict[str, str]:
    """The texts searched, drawn from the generated members so that each finds what its label says."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT email, phone, member_number FROM customers_customer WHERE email <> '' AND phone <> '' "
            "ORDER BY member_number OFFSET (SELECT count(*) / 3 FROM customers_customer) LIMIT 1"
        )
        email, phone, number = cursor.fetchone()
    return {
        "surname": "kowal",
        "full name": "emma nakamura",
        "email": email.split("@")[0],
        "phone": phone[-7:],
        "number": number[:9],
        "nobody": "quixotic",
        "two chars": "lu",
    }


def reads(text: str) -> str:
    """How find_customers' search query (its last) reads the members: the indexes it scans, or Seq Scan."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from customers.selectors import find_customers

    with CaptureQueriesContext(connection) as captured:
        find_customers(text)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + captured.captured_queries[-1]["sql"])
        value = cursor.fetchone()[0]
    plan = (json.loads(value) if isinstance(value, str) else value)[0]["Plan"]
    found = []

    def walk(node: dict) -> None:
        if node.get("Relation Name") == "customers_customer" and node["Node Type"] == "Seq Scan":
            found.append("Seq Scan")
        if "trgm" in node.get("Index Name", ""):
            found.append(node["Index Name"].removeprefix("customer_").removesuffix("_trgm_idx"))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return "+".join(found) or "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--database", default="bench_till_search", help="dropped and made again; must contain bench")
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--enrol", type=int, default=50_000, help="members enrolled by one INSERT, rolled back")
    parser.add_argument("--reuse", action="store_true", help="measure the database an earlier run built")
    args = parser.parse_args()

    if args.reuse:
        url = database_url(args.server, args.database)
        if "bench" not in urlsplit(url).path:
            raise SystemExit("--database must name a benchmark's database (its name contains 'bench')")
    else:
        url = database_url(args.server, args.database)
        recreate_database(url)
    os.environ.update(
        {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "loyalty_site.settings.local", "DJANGO_DEBUG": "false"}
    )
    import django

    django.setup()
    from django.db import connection, transaction

    from customers.selectors import find_customers

    if not args.reuse:
        build(args.customers)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM customers_customer")
        (members,) = cursor.fetchone()
    print(f"{members:,} members; load average {load_average()}")

    def with_indexes(text: str) -> callable:
        return lambda: find_customers(text)

    def without_indexes(text: str) -> callable:
        def search():
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("DROP INDEX " + ", ".join(TRIGRAM_INDEXES))
                started = time.perf_counter()
                found = find_customers(text)
                searched.append(time.perf_counter() - started)  # the search alone, not the DROP
                transaction.set_rollback(True)
            return found

        return search

    rows = []
    for label, text in texts().items():
        searched: list[float] = []
        found = find_customers(text)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX " + ", ".join(TRIGRAM_INDEXES))
            plain_reads, plain_found = reads(text), find_customers(text)
            transaction.set_rollback(True)
        if [customer.pk for customer in plain_found] != [customer.pk for customer in found]:
            raise SystemExit(f"{text!r}: the indexes found other members than reading the table")
        indexed, _ = timed_alternately(with_indexes(text), without_indexes(text), args.repeats)
        plain = searched[1:]  # the warm-up run first
        rows.append(
            (label, text, len(found), reads(text), plain_reads, statistics.median(indexed), statistics.median(plain))
        )

    def enrol(*, drop: bool) -> callable:
        def write():
            with transaction.atomic():
                with connection.cursor() as cursor:
                    if drop:
                        cursor.execute("DROP INDEX " + ", ".join(TRIGRAM_INDEXES))
                    started = time.perf_counter()
                    cursor.execute(ENROL, [args.enrol])
                    enrolled.append((drop, time.perf_counter() - started))
                transaction.set_rollback(True)

        return write

    enrolled: list[tuple[bool, float]] = []
    timed_alternately(enrol(drop=False), enrol(drop=True), 5)
    enrol_indexed = statistics.median(seconds for drop, seconds in enrolled[2:] if not drop)
    enrol_plain = statistics.median(seconds for drop, seconds in enrolled[2:] if drop)

    print(f"load average {load_average()}")
    print(
        f"{'text':<28} {'found':>5}  {'with indexes ms':>15}  {'without ms':>10}  {'ratio':>7}  plans (with / without)"
    )
    for label, text, count, indexed_reads, plain_reads, indexed, plain in rows:
        print(
            f"{label + ' ' + repr(text):<28} {count:>5}  {indexed * 1000:>15.1f}  {plain * 1000:>10.1f}  "
            f"{plain / indexed:>6.1f}x  {indexed_reads} / {plain_reads}"
        )

    print(
        f"enrolling {args.enrol:,} members in one INSERT: {enrol_indexed:.2f} s with the indexes, {enrol_plain:.2f} s "
        f"without ({enrol_indexed / enrol_plain:.2f}x)"
    )


if __name__ == "__main__":
    main()
