"""Tabular files read a chunk at a time: CSV/TSV, JSONL, Parquet and Excel.

Every reader gives the header and then chunks of raw rows with the line (or row) number of
each, so a value that cannot be used is reported where the user can find it. Memory is one
chunk, whatever the size of the file.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator
from itertools import accumulate, islice
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from gristmill._exceptions import ConfigError, SourceError
from gristmill._lazy import optional
from gristmill.sources.tables import FORMATS as TABLES
from gristmill.sources.tables import allow_fields_of, repeated_names
from gristmill.sql.database import unusable
from gristmill.sql.types import SqlType

FORMATS = {**TABLES, ".xlsx": "excel", ".xlsm": "excel"}  # a table's kind by its name's ending
DELIMITERS = {",": "a comma", ";": "a semicolon", "\t": "a tab", "|": "a bar"}  # hinted at


class Chunk(NamedTuple):
    lines: list[int]  # where each row starts in the file (1-based; the header is line 1)
    rows: list[Any]  # a list of values per row, or a `RowProblem`
    clean: bool = False  # known to hold no `RowProblem`


class RowProblem(NamedTuple):
    """A row that could not be read at all (ragged, invalid JSON): reported with its line."""

    message: str
    raw: str


class Table(NamedTuple):
    header: list[str]
    chunks: Iterator[Chunk]
    close: Callable[[], None]  # the file stays open until the chunks are read or this is called
    strings: bool = False  # every value is a str (CSV, TSV): coercion takes a faster road
    rest: Iterator[list[str]] | None = None  # CSV, TSV: the rows after those of the chunks read
    kinds: list[SqlType | None] | None = None  # the column types the file gives (Parquet), None: infer
    keys: list[str] | None = None  # JSONL: the records' keys, as they are spelled (read_table's KEYS)


def file_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ConfigError(
            f"{path}: cannot tell its format from {path.suffix!r}; use one of {known}"
        ) from None


def read_table(
    path: Path,
    chunk_size: int,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    keys: list[str] | None = None,
) -> Table:
    """Open PATH and read its header; the chunks are read as they are consumed. DELIMITER and
    ENCODING (default: UTF-8, with or without a BOM) are a CSV or TSV file's; KEYS, a JSONL
    file's columns when an earlier read found them (else the file is read once to find them)."""
    kind = file_format(path)
    if (delimiter or encoding) and kind not in ("csv", "tsv"):
        raise ConfigError("--delimiter and --encoding are for CSV and TSV files")
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise ConfigError(f"--delimiter must be one character (\\t for a tab), not {delimiter!r}")
    try:
        if kind in ("csv", "tsv"):
            return _delimited(path, chunk_size, delimiter, _encoding(encoding))
        if kind == "jsonl":
            return _jsonl(path, chunk_size, keys)
        if kind == "parquet":
            return _parquet(path, chunk_size)
        return _excel(path, chunk_size)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc


def _checked_header(path: Path, header: list[Any]) -> list[str]:
    names = [str(name).strip() if name is not None else "" for name in header]
    if not names or any(not name for name in names):
        raise SourceError(f"{path}: the first row must name every column (found {names})")
    if problem := repeated_names(names):
        raise SourceError(f"{path}: {problem}")
    for name in names:
        if problem := unusable(name):
            raise SourceError(f"{path}: the column name {name!r} cannot be used: {problem}")
    return names


def _encoding(encoding: str | None) -> str:
    try:
        name = codecs.lookup(encoding or "utf-8").name
    except LookupError:
        raise ConfigError(
            f"--encoding: Python knows no encoding {encoding!r} (try latin-1 or cp1252)"
        ) from None
    return "utf-8-sig" if name == "utf-8" else name  # a BOM, if there is one, is not data


def _not_encoded(path: Path, encoding: str, exc: UnicodeDecodeError) -> SourceError:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return SourceError(
        f"cannot read {path} as {encoding.removesuffix('-sig')} text (byte 0x{byte}: {exc.reason}); "
        "give its encoding with --encoding, such as --encoding latin-1 or --encoding cp1252"
    )


def _delimited(path: Path, chunk_size: int, delimiter: str | None, encoding: str) -> Table:
    allow_fields_of(path.stat().st_size)
    given = delimiter or ("\t" if file_format(path) == "tsv" else ",")
    handle = path.open(newline="", encoding=encoding)
    reader = csv.reader(handle, delimiter=given)
    try:
        header = _checked_header(path, next(reader))
    except StopIteration:
        handle.close()
        raise SourceError(f"{path} is empty: it needs a header row") from None
    except UnicodeDecodeError as exc:
        handle.close()
        raise _not_encoded(path, encoding, exc) from None
    except SourceError:
        handle.close()
        raise
    # one column whose name holds another usual delimiter: the file is likely separated by that
    other = next((d for d in DELIMITERS if d != given and d in header[0]), None)
    if delimiter is None and len(header) == 1 and other:
        handle.close()
        shown = "'\\t'" if other == "\t" else repr(other)
        raise SourceError(
            f"{path}: the header {header[0]!r} is one column; if the fields are separated by "
            f"{DELIMITERS[other]}, give --delimiter {shown}"
        )
    width = len(header)

    def chunks() -> Iterator[Chunk]:
        with handle:
            while True:
                start = reader.line_num + 1
                try:
                    rows: list[Any] = list(islice(reader, chunk_size))  # at C speed
                except UnicodeDecodeError as exc:
                    raise _not_encoded(path, encoding, exc) from None
                if not rows:
                    return
                if reader.line_num - start + 1 == len(rows):  # one line per row: the usual case
                    lines = list(range(start, reader.line_num + 1))
                else:  # rows with quoted line breaks: count them to number the lines
                    lines = list(
                        accumulate((1 + sum(f.count("\n") for f in row) for row in rows), initial=start)
                    )
                    lines.pop()
                clean = set(map(len, rows)) == {width}
                if not clean:
                    kept = [(n, _row(row, width, given)) for n, row in zip(lines, rows, strict=True) if row]
                    lines, rows = [n for n, _ in kept], [row for _, row in kept]
                yield Chunk(lines, rows, clean)

    return Table(header, chunks(), handle.close, strings=True, rest=reader)


def _row(row: list[str], width: int, delimiter: str) -> Any:
    if len(row) == width:
        return row
    return RowProblem(f"has {len(row)} fields where the header has {width}", delimiter.join(row))


def _jsonl(path: Path, chunk_size: int, keys: list[str] | None) -> Table:
    """JSON Lines records may differ in their keys: the columns are every key of the file, in
    the order they first appear, and a record's missing keys are NULL."""
    handle = path.open("rb")
    first = handle.readline().removeprefix(codecs.BOM_UTF8)
    try:
        first_row = orjson.loads(first)
    except orjson.JSONDecodeError as exc:
        handle.close()
        raise SourceError(f"{path} line 1 is not valid JSON: {_json_problem(first, exc)}") from None
    if not isinstance(first_row, dict):
        handle.close()
        raise SourceError(f"{path} line 1 is not a JSON object")
    if keys is None:
        keys = _all_keys(handle, first_row)
    header = _checked_header(path, keys)
    names = set(keys)

    def parse(line: bytes) -> Any:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problem = _json_problem(line, exc)
            return RowProblem(f"is not valid JSON: {problem}", line.decode("utf-8", "replace").rstrip())
        if not isinstance(value, dict):
            return RowProblem("is not a JSON object", line.decode("utf-8", "replace").rstrip())
        extra = value.keys() - names
        if extra:  # only if the file changed since its keys were found
            return RowProblem(f"has fields the file had not: {sorted(extra)}", line.decode().rstrip())
        return [value.get(name) for name in keys]

    def chunks() -> Iterator[Chunk]:
        with handle:
            number = 1
            lines, rows = [1], [[first_row.get(name) for name in keys]]
            for line in handle:
                number += 1
                if line.strip():
                    lines.append(number)
                    rows.append(parse(line))
                if len(rows) >= chunk_size:
                    yield Chunk(lines, rows)
                    lines, rows = [], []
            if rows:
                yield Chunk(lines, rows)

    return Table(header, chunks(), handle.close, keys=keys)


def _all_keys(handle: Any, first_row: dict[str, Any]) -> list[str]:
    """The keys of every record, in the order they first appear: one pass over the file (from
    its second line), holding only the keys; then back to the second line."""
    start = handle.tell()
    keys = dict.fromkeys(first_row)
    for line in handle:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # reported with its line when the rows are read
        if isinstance(value, dict) and not value.keys() <= keys.keys():
            keys.update(dict.fromkeys(value))
    handle.seek(start)
    return list(keys)


def _json_problem(line: bytes, exc: orjson.JSONDecodeError) -> str:
    """The decoder's complaint about one line, without its position in a document of its own."""
    if exc.pos >= len(line.rstrip()):
        return f"{exc.msg} (the line ends before the JSON value does)"
    return f"{exc.msg} at character {exc.pos + 1}"


def _parquet(path: Path, chunk_size: int) -> Table:
    pq = optional("pyarrow.parquet", "parquet")
    parquet = pq.ParquetFile(path)
    header = _checked_header(path, parquet.schema_arrow.names)

    def chunks() -> Iterator[Chunk]:
        row = 1
        for batch in parquet.iter_batches(batch_size=chunk_size):
            columns = [column.to_pylist() for column in batch.columns]
            rows = [list(values) for values in zip(*columns, strict=True)]
            yield Chunk(list(range(row + 1, row + 1 + len(rows))), rows)
            row += len(rows)

    kinds = [_arrow_kind(column.type) for column in parquet.schema_arrow]
    return Table(header, chunks(), parquet.close, kinds=kinds)


def _arrow_kind(kind: Any) -> SqlType | None:
    """The column type of a Parquet column's type; None for text, whose values tell."""
    types = optional("pyarrow", "parquet").types
    if types.is_boolean(kind):
        return SqlType.BOOLEAN
    if types.is_integer(kind) and not types.is_uint64(kind):
        return SqlType.INTEGER
    if types.is_integer(kind) or types.is_floating(kind) or types.is_decimal(kind):
        return SqlType.DECIMAL
    if types.is_date(kind):
        return SqlType.DATE
    if types.is_timestamp(kind):
        return SqlType.TIMESTAMP
    return None


def _excel(path: Path, chunk_size: int) -> Table:
    openpyxl = optional("openpyxl", "excel")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise SourceError(f"cannot read {path} as an Excel workbook: {exc}") from exc
    rows_in = book.worksheets[0].iter_rows(values_only=True)
    try:
        header = _checked_header(path, list(next(rows_in)))
    except StopIteration:
        book.close()
        raise SourceError(f"{path} is empty: its first sheet needs a header row") from None
    width = len(header)

    def chunks() -> Iterator[Chunk]:
        number = 1
        lines: list[int] = []
        rows: list[Any] = []
        for values in rows_in:
            number += 1
            cells = list(values)
            while len(cells) > width and cells[-1] is None:
                cells.pop()
            if all(cell is None for cell in cells):
                continue
            lines.append(number)
            if len(cells) > width:
                rows.append(RowProblem(f"has {len(cells)} cells where the header has {width}", str(cells)))
            else:
                rows.append(cells + [None] * (width - len(cells)))
            if len(rows) >= chunk_size:
                yield Chunk(lines, rows)
                lines, rows = [], []
        if rows:
            yield Chunk(lines, rows)
        book.close()

    return Table(header, chunks(), book.close)
