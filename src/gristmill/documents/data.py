"""Record formats: CSV/TSV become a table, JSON/JSONL one text element per record."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from gristmill._exceptions import ProcessingError
from gristmill.documents.elements import Elements
from gristmill.documents.text import decode

MAX_TABLE_ROWS = 100_000


def partition_delimited(data: bytes, out: Elements, *, delimiter: str) -> None:
    reader = csv.reader(io.StringIO(decode(data)), delimiter=delimiter)
    rows = []
    for index, row in enumerate(reader):
        if index >= MAX_TABLE_ROWS:
            raise ProcessingError(
                f"the table has more than {MAX_TABLE_ROWS:,} rows; use gristmill import for tables"
            )
        rows.append(row)
    out.table(rows)


def partition_json(data: bytes, out: Elements) -> None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProcessingError(f"invalid JSON: {exc}") from None
    records = value if isinstance(value, list) else [value]
    for record in records:
        out.add("NarrativeText", _flatten(record))


def partition_jsonl(data: bytes, out: Elements) -> None:
    for number, line in enumerate(data.splitlines(), 1):
        if line.strip():
            try:
                out.add("NarrativeText", _flatten(orjson.loads(line)), line_number=number)
            except orjson.JSONDecodeError as exc:
                raise ProcessingError(f"invalid JSON on line {number}: {exc}") from None


def _flatten(value: Any, path: str = "") -> str:
    """``key: value`` lines for every leaf, nested keys joined with dots."""
    if isinstance(value, dict):
        return "\n".join(_flatten(v, f"{path}.{k}" if path else str(k)) for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(_flatten(v, f"{path}[{i}]") for i, v in enumerate(value))
    text = "" if value is None else str(value)
    return f"{path}: {text}" if path else text
