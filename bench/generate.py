"""Write a deterministic CSV record of transactions for the benchmarks.

    .venv/bin/python bench/generate.py --rows 1000000 --customers 50000   # -> bench/data/transactions-1000000.csv

Three calendar months (January to March 2025), local times without offset (the merchant's TIME_ZONE),
amounts from 1.00 to about 400.00, and about 2% refunds, each of an earlier purchase of the same
customer, for part or all of it. The same arguments always give the same file.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
HEADER = ["customer_id", "customer_name", "transaction_id", "amount", "occurred_at", "store", "kind", "refund_of"]
START = dt.datetime(2025, 1, 1)
SECONDS = int((dt.datetime(2025, 4, 1) - START).total_seconds())
REFUND_SHARE = 0.02
FIRST = ["Ada", "Ben", "Chloe", "Dev", "Eve", "Femi", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Max", "Noor"]
LAST = ["Smith", "Okafor", "Garcia", "Novak", "Chen", "Müller", "Silva", "Kowalski", "Haddad", "Ito"]


def default_path(rows: int) -> Path:
    return DATA / f"transactions-{rows}.csv"


def member_number(index: int) -> str:
    return f"M{index:07d}"


def generate(path: Path, *, rows: int, customers: int, seed: int = 20250101) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Moments in order, so that every refund can come after its purchase in the file.
    moments = sorted(rng.randrange(SECONDS) for _ in range(rows))
    names = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(customers)]
    recent: list[tuple[str, int, int, int]] = []  # (receipt, customer, cents, second) of recent purchases
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(HEADER)
        for index, second in enumerate(moments):
            moment = (START + dt.timedelta(seconds=second)).isoformat()
            receipt = f"T{index + 1:08d}"
            if recent and rng.random() < REFUND_SHARE:
                # A refund of a recent, not yet refunded purchase: all of it or a part.
                bought, customer, cents, _when = recent.pop(rng.randrange(len(recent)))
                part = cents if rng.random() < 0.5 else rng.randint(1, cents)
                member, name = member_number(customer), names[customer]
                writer.writerow([member, name, receipt, f"{part / 100:.2f}", moment, "", "refund", bought])
                continue
            customer = rng.randrange(customers)
            cents = int(rng.lognormvariate(8.6, 0.8))  # median about 54.00
            cents = max(100, min(cents, 40_000))
            member, name = member_number(customer), names[customer]
            writer.writerow([member, name, receipt, f"{cents / 100:.2f}", moment, "", "", ""])
            recent.append((receipt, customer, cents, second))
            if len(recent) > 2000:
                recent.pop(0)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    path = generate(args.output or default_path(args.rows), rows=args.rows, customers=args.customers, seed=args.seed)
    print(path)


if __name__ == "__main__":
    main()
