"""Import a generated 100,000-row CSV of orders, with repeats and bad values, into a table.

SQLite by default (examples-output/import_csv/orders.db); PostgreSQL when GRISTMILL_DB_URL
is set. Repeated orders are skipped, rows that do not fit are set aside in bad-rows.csv,
and the import is all or nothing. Run it twice: the second run is refused, the file having
been imported already.

    python examples/import_csv/import_orders.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gristmill import ConfigError
from gristmill.sql import import_file

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from make_csv import make  # noqa: E402

OUT = Path("examples-output/import_csv")

if __name__ == "__main__":
    data = OUT / "orders.csv"
    if not data.exists():
        make(data)
    url = os.environ.get("GRISTMILL_DB_URL") or f"sqlite:///{OUT / 'orders.db'}"
    try:
        report = import_file(
            data,
            url,
            "orders",
            key=["order_id"],
            on_duplicate="skip",
            schema=HERE / "schema.json",
            bad_rows=OUT / "bad-rows.csv",
        )
    except ConfigError as exc:  # e.g. imported before
        print(f"not imported: {exc}")
        raise SystemExit(0) from None
    print(
        f"{report.rows_read} rows read, {report.inserted} inserted, {report.skipped} repeats skipped, "
        f"{report.bad_rows} set aside in {OUT / 'bad-rows.csv'}"
    )
