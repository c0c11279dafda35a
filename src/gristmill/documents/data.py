"""Record formats: CSV/TSV become a table, JSON/JSONL one text element per record."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from gristmill._exceptions import ProcessingError
from gristmill.documents.elements import Elements
from gristmill.documents.text import decode
from gristmill.sources.tables import allow_fields_of

MAX_TABLE_ROWS = 100_000


def partition_delimited(data: bytes, out: Elements, *, delimiter: str) -> None:
    allow_fields_of(len(data))  # a long cell (a document pasted into a spreadsheet) is no error
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
        value = orjson.loads(decode(data))  # JSON with a BOM, in UTF-16, in Latin-1
    except orjson.JSONDecodeError as exc:
        raise ProcessingError(f"invalid JSON: {exc}") from None
    records = value if isinstance(value, list) else [value]
    for record in records:
        out.add("NarrativeText", _flatten(record))


def partition_jsonl(data: bytes, out: Elements) -> None:
    for number, line in enumerate(decode(data).splitlines(), 1):
        if line.strip():
            try:
                out.add("NarrativeText", _flatten(orjson.loads(line)), line_number=number)
            except orjson.JSONDecodeError as exc:
                raise ProcessingError(f"invalid JSON on line {number}: {exc}") from None


def _flatten(value: Any) -> str:
    """``key: value`` lines for every leaf, nested keys joined with dots; by a stack of its
    own, as JSON may nest deeper than Python's recursion goes."""
    lines = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            pairs = [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            pairs = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        else:
            text = "" if value is None else str(value)
            lines.append(f"{path}: {text}" if path else text)
            continue
        stack.extend(reversed(pairs))
    return "\n".join(lines)
