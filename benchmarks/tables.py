"""Big-table benchmark: one CSV of ``--rows`` rows through gristmill's `Tables` slices on every
core, against the scripts people write instead, in one run on the same file. Two workloads:

* ``sum``: add up a column, next to no work per row;
* ``per-row``: some Python work on every row (a hash of two fields, a JSON line), as an
  enrichment or a clean-up step does, then the same sum.

Methods: gristmill (``Pipeline(Tables(...), [step], ListSink())`` on ``--workers`` processes, a
fresh ledger each round: listing, cutting, checkpointing and start-up included);
``csv.DictReader`` in one process; pandas ``read_csv`` then the same step (``sum``: one
vectorised call; ``per-row``: ``apply`` over the rows), where pandas is installed. Each
method's total must agree. Prints rows/s (best of ``--repeat``) and gristmill's ratio to
each. Some rows hold a quoted line break, as real exports do.

    python benchmarks/tables.py                     # 2,000,000 rows, about 50 MB
    python benchmarks/tables.py --quick             # smoke test
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gristmill import BaseSample, Pipeline, Processor
from gristmill.ledger import SqliteLedger
from gristmill.sinks import ListSink
from gristmill.sources import Rows, Tables

ROOT = Path(__file__).parent.parent


def light(row: dict[str, str]) -> float:
    return float(row["amount"])


def heavy(row: dict[str, str]) -> float:
    digest = hashlib.sha256(f"{row['customer']}:{row['order']}".encode()).hexdigest()
    line = json.dumps({**row, "key": digest})
    return float(row["amount"]) + (len(line) > 10_000)  # the work must be done; it adds nothing


WORKLOADS = {"sum": light, "per-row": heavy}


class Sum(BaseSample):
    rows: int
    amount: float


class Total(Processor):
    workload: str

    def process(self, sample: Rows) -> Sum:  # type: ignore[override]
        work = WORKLOADS[self.workload]
        return Sum(id=sample.id, rows=len(sample.rows), amount=sum(work(row) for row in sample.rows))


def make_table(path: Path, rows: int) -> None:
    rng = random.Random(5)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["order", "customer", "amount", "note"])
        for n in range(rows):
            note = "fragile,\nkeep dry" if n % 1000 == 0 else "ok"
            writer.writerow([n, f"c{rng.randrange(100_000)}", f"{rng.random() * 100:.2f}", note])


Method = Callable[[Path, int, str], tuple[int, float]]


def gristmill_sum(path: Path, workers: int, workload: str) -> tuple[int, float]:
    sink = ListSink()
    with tempfile.TemporaryDirectory() as state:
        source = Tables(url=str(path.parent), pattern=path.name)
        Pipeline(source, [Total(workload=workload)], sink).run(
            workers=workers, ledger=SqliteLedger(Path(state)), progress=False
        )
    return sum(s.rows for s in sink.samples), sum(s.amount for s in sink.samples)  # type: ignore[attr-defined]


def dictreader_sum(path: Path, workers: int, workload: str) -> tuple[int, float]:
    work = WORKLOADS[workload]
    rows, amount = 0, 0.0
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            rows += 1
            amount += work(row)
    return rows, amount


def pandas_sum(path: Path, workers: int, workload: str) -> tuple[int, float]:
    import pandas

    frame = pandas.read_csv(path)
    if workload == "sum":
        return len(frame), float(frame["amount"].sum())
    return len(frame), float(frame.apply(lambda row: heavy(row.to_dict()), axis=1).sum())


def best(method: Method, path: Path, workers: int, workload: str, repeat: int) -> dict[str, float]:
    times, result = [], (0, 0.0)
    for _ in range(repeat):
        start = time.perf_counter()
        result = method(path, workers, workload)
        times.append(time.perf_counter() - start)
    return {"rows": result[0], "amount": round(result[1], 2), "seconds": min(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "tables.json")
    args = parser.parse_args()
    rows, repeat = (50_000, 1) if args.quick else (args.rows, args.repeat)
    ours = f"gristmill Tables, {args.workers} workers"
    methods: dict[str, Method] = {ours: gristmill_sum, "csv.DictReader, 1 process": dictreader_sum}
    try:
        import pandas  # noqa: F401

        methods["pandas.read_csv, 1 process"] = pandas_sum
    except ImportError:
        print("pandas is not installed: no pandas row")
    report: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="gristmill-tables-") as folder:
        path = Path(folder) / "orders.csv"
        make_table(path, rows)
        size = path.stat().st_size
        print(f"{rows:,} rows, {size / 1e6:,.0f} MB")
        for workload in WORKLOADS:
            figures = {
                name: best(method, path, args.workers, workload, repeat) for name, method in methods.items()
            }
            if len({(f["rows"], f["amount"]) for f in figures.values()}) != 1:
                raise SystemExit(f"the methods disagree on the {workload} total: {figures}")
            print(f"{workload}:")
            for name, figure in figures.items():
                rate = figure["rows"] / figure["seconds"]
                ratio = (
                    ""
                    if name == ours
                    else f"   gristmill ÷ this: {figure['seconds'] / figures[ours]['seconds']:.2f}x"
                )
                print(f"  {name:<28} {rate:>12,.0f} rows/s ({figure['seconds']:.2f} s){ratio}")
            report[workload] = figures
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"rows": rows, "bytes": size, "workers": args.workers, "workloads": report})
    )


if __name__ == "__main__":
    main()
