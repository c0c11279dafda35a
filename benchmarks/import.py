"""Import benchmark: `gristmill import` against raw psycopg COPY and pandas ``to_sql``, in one run.

What it measures, on this machine, into the PostgreSQL server at ``--db`` (default
127.0.0.1:5432, database test), each method into a fresh table of the same definition
(``id bigint PRIMARY KEY, name text, city text, at timestamptz``):

* rows/s importing a CSV file of ``--rows`` rows (1,000,000) of (int, text, text, timestamp):
  ``gristmill import`` end to end (hash the file, read and coerce in chunks, binary COPY into
  a staging table, check duplicates, move the rows in, one transaction); a raw script that
  reads the same file with ``csv``, converts the values and sends them with psycopg's binary
  COPY; and ``pandas.read_csv`` + ``DataFrame.to_sql(method="multi", chunksize=10000)``
  through SQLAlchemy. ``to_sql`` runs on the first ``--to-sql-rows`` rows (100,000) of the
  file, which keeps the run short: its rows/s is what the ratio compares;
* duplicate detection: ``--rows`` incoming rows against a table of as many, on a two-column
  key with a unique index, 1 % of keys overlapping: the time ``gristmill import`` takes to
  refuse the file (read, stage, check), and the check alone (a dry run of a file with no
  overlap, its "check" phase).

Run it::

    python benchmarks/import.py                  # about 2 minutes
    python benchmarks/import.py --quick          # smoke test: 20,000 rows

It prints rows/s and gristmill's ratio to each method, and writes every figure as JSON
(default benchmarks/results/import.json).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from gristmill import DuplicateDataError
from gristmill.sql import connect, import_file

DEFAULT_DB = os.environ.get("GRISTMILL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
COLUMNS = "id bigint PRIMARY KEY, name text, city text, at timestamptz"
CITIES = ["Lyon", "Kraków", "Ōsaka", "São Paulo", "Reykjavík", "Nairobi"]


def make_rows_file(path: Path, rows: int, start: int = 0) -> Path:
    rng = random.Random(start)
    origin = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name", "city", "at"])
        for i in range(start, start + rows):
            when = (origin + dt.timedelta(seconds=i * 7)).isoformat()
            out.writerow([i, f"name {rng.randrange(10**9)}", rng.choice(CITIES), when])
    return path


def fresh_table(url: str, schema: str, name: str, columns: str = COLUMNS) -> str:
    db = connect(url)
    db.execute(f'DROP TABLE IF EXISTS "{schema}"."{name}"')
    db.execute(f'CREATE TABLE "{schema}"."{name}" ({columns})')
    db.close()
    return f"{schema}.{name}"


def count(url: str, table: str) -> int:
    db = connect(url)
    schema, name = table.split(".")
    found = int(db.query(f'SELECT count(*) FROM "{schema}"."{name}"')[0][0])
    db.close()
    return found


def time_gristmill(url: str, path: Path, table: str) -> float:
    start = time.perf_counter()
    import_file(path, url, table)
    return time.perf_counter() - start


def time_raw_copy(url: str, path: Path, table: str) -> float:
    """What a careful one-off script does: csv, convert, binary COPY, one transaction."""
    import psycopg

    schema, name = table.split(".")
    start = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cursor, path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        statement = f'COPY "{schema}"."{name}" (id, name, city, at) FROM STDIN (FORMAT BINARY)'
        with cursor.copy(statement) as copy:
            copy.set_types(["int8", "text", "text", "timestamptz"])
            parse = dt.datetime.fromisoformat
            for row_id, row_name, city, at in reader:
                copy.write_row((int(row_id), row_name, city, parse(at)))
    return time.perf_counter() - start


def time_to_sql(url: str, path: Path, table: str, rows: int) -> float:
    import pandas as pd
    import sqlalchemy

    schema, name = table.split(".")
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    start = time.perf_counter()
    frame = pd.read_csv(path, nrows=rows, parse_dates=["at"])
    frame.to_sql(
        name, engine, schema=schema, if_exists="append", index=False, method="multi", chunksize=10_000
    )
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def bench_import(url: str, schema: str, folder: Path, rows: int, to_sql_rows: int) -> dict[str, Any]:
    path = make_rows_file(folder / "rows.csv", rows)
    size = path.stat().st_size
    print(f"import: {rows:,} rows, {size / 1e6:.0f} MB of CSV", flush=True)
    results = []
    for method, run, n in (
        ("gristmill import", lambda t: time_gristmill(url, path, t), rows),
        ("raw psycopg binary COPY", lambda t: time_raw_copy(url, path, t), rows),
        ("pandas to_sql(multi)", lambda t: time_to_sql(url, path, t, to_sql_rows), min(rows, to_sql_rows)),
    ):
        table = fresh_table(url, schema, method.split()[0].replace("-", "_"))
        seconds = run(table)
        assert count(url, table) == n, f"{method} left {count(url, table)} rows, expected {n}"
        results.append({"method": method, "rows": n, "seconds": seconds, "rows_per_s": n / seconds})
        print(f"  {method:<26} {n:>9,} rows {seconds:7.2f} s {n / seconds:>11,.0f} rows/s", flush=True)
    ours = results[0]["rows_per_s"]
    for row in results:
        row["gristmill_ratio"] = ours / row["rows_per_s"]
    return {"rows": rows, "bytes": size, "methods": results}


def bench_duplicates(url: str, schema: str, folder: Path, rows: int) -> dict[str, Any]:
    """1 % of the incoming keys are in the table: how long until the import is refused, with a
    unique index on the key (the usual case) and without one (the rows are staged, then checked)."""
    existing = folder / "existing.csv"
    with existing.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["k1", "k2", "value"])
        out.writerows((i // 3, f"part {i % 3}", f"v{i}") for i in range(rows))
    overlap = rows // 100
    incoming = folder / "incoming.csv"
    with incoming.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["k1", "k2", "value"])
        shift = rows - overlap
        out.writerows(((i + shift) // 3, f"part {(i + shift) % 3}", f"w{i}") for i in range(rows))
    print(
        f"duplicates: {rows:,} incoming against {rows:,} in the table, key (k1, k2), {overlap:,} overlapping"
    )
    results = {}
    for label, unique in (("unique index", ", UNIQUE (k1, k2)"), ("no index", "")):
        table = fresh_table(
            url, schema, f"existing_{unique != ''}", f"k1 bigint, k2 text, value text{unique}"
        )
        import_file(existing, url, table)
        start = time.perf_counter()
        try:
            import_file(incoming, url, table, key=["k1", "k2"])
        except DuplicateDataError as exc:
            found = exc.duplicates
        else:
            raise AssertionError("the overlapping file was imported")
        seconds = time.perf_counter() - start
        if found != overlap:
            raise AssertionError(f"found {found} duplicates, expected {overlap}")
        print(f"  {label:<13} refused in {seconds:.2f} s (reading, staging and checking every row)")
        results[label] = {"seconds": seconds, "duplicates": found}
    # the check alone: a file whose keys are all new, staged (no index), in a dry run
    clean = folder / "clean.csv"
    with clean.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["k1", "k2", "value"])
        out.writerows(((i + rows) // 3, f"part {(i + rows) % 3}", f"w{i}") for i in range(rows))
    dry = import_file(clean, url, table, key=["k1", "k2"], dry_run=True)
    check = dry.phases["check"]
    print(f"  the check alone (both queries, {rows:,} staged rows against {rows:,}): {check:.2f} s")
    return {"rows": rows, "overlap": overlap, "refused": results, "check_seconds": dry.phases["check"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL URL (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--to-sql-rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="20,000 rows: a smoke test")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "import.json")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows
    to_sql_rows = min(rows, 5_000 if args.quick else args.to_sql_rows)
    print(f"gristmill import benchmark, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    db = connect(args.db)
    db.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with tempfile.TemporaryDirectory() as scratch:
            report = {
                "import": bench_import(args.db, schema, Path(scratch), rows, to_sql_rows),
                "duplicates": bench_duplicates(args.db, schema, Path(scratch), rows),
            }
    finally:
        db.execute(f'DROP SCHEMA "{schema}" CASCADE')
        db.close()
    methods = report["import"]["methods"]
    print(
        "gristmill ÷ method (rows/s): "
        + ", ".join(f"{m['method']} {m['gristmill_ratio']:.2f}" for m in methods)
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    sys.exit(main())
