"""Make orders.csv: 100,000 orders, 500 of them repeated and 50 with values that do not fit.

Deterministic: the same file every time. Run: python examples/import_csv/make_csv.py [PATH]
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
from pathlib import Path

ROWS = 100_000
REPEATS = 500  # rows that repeat an earlier order's id
BAD = 50  # rows with an amount or a timestamp that cannot be read

HERE = Path(__file__).parent


def make(path: Path) -> Path:
    rng = random.Random(2026)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    repeated = set(rng.sample(range(1, ROWS), REPEATS))
    bad = set(rng.sample(range(1, ROWS), BAD)) - repeated
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["order_id", "customer", "amount", "ordered_at", "paid"])
        for n in range(ROWS):
            order_id = 1_000_000 + (rng.randrange(0, n) if n in repeated else n)
            amount = f"{rng.uniform(1, 500):.2f}"
            ordered = (start + dt.timedelta(minutes=n * 5)).isoformat()
            if n in bad:
                amount, ordered = rng.choice([("n/a", ordered), (amount, "31/02/2024")])
            customer = rng.choice(["Ada Lovelace", "Brontë & Co", "Ōsaka Trading", "", "Zoë"])
            out.writerow([order_id, customer, amount, ordered, n % 3 != 0])
    return path


if __name__ == "__main__":
    print(make(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "orders.csv"))
