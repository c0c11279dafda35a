"""``gristmill import``: a tabular file into a table, all or nothing, duplicates checked first.

The file is read a chunk at a time, each value coerced to its column's type, and bulk-loaded
into a temporary staging table inside one transaction. The database then finds the rows
that repeat a key within the file or that are already in the table, and moves the rows to
keep into the table with one statement. Nothing is visible to others until the commit, so
an import that fails, is refused or is killed leaves the table exactly as it was.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from gristmill._exceptions import ConfigError, DuplicateDataError, SinkError, SourceError
from gristmill.sql.database import (
    NAME_BYTES,
    Database,
    check_table,
    connect,
    is_setup_error,
    quote,
    quote_column,
    reason,
)
from gristmill.sql.readers import Chunk, RowProblem, Table, read_table
from gristmill.sql.types import COERCE, DESCRIBED, SqlType, infer, row_converter
from gristmill.storage.urls import redact
from gristmill.telemetry import make_progress

OnDuplicate = Literal["error", "skip", "update"]
HISTORY = "gristmill_imports"
STAGE = "gristmill_stage"
DUPLICATES = "gristmill_duplicates"
EXAMPLES = 5  # duplicates shown in the message
FLAT = 64  # conditions ANDed in one chain; more are nested (SQLite's expressions are at most 1000 deep)
MISFITS = (ValueError, TypeError, OverflowError, ArithmeticError, KeyError)  # a value that does not fit


class BadValue(SourceError):
    """A value that cannot be coerced, or a row that cannot be read: names file, line, column."""


class AlreadyImported(ConfigError):
    """The file's content was imported into the table before: nothing to do (``--force``)."""


@dataclass
class ImportReport:
    file: str
    table: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0  # duplicates left out (``--on-duplicate skip``)
    bad_rows: int = 0  # rows set aside in ``--bad-rows``
    seconds: float = 0.0
    dry_run: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # seconds: read, check, write
    note: str = ""  # why a file imported before was imported again (its table was dropped or emptied)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Rollback(Exception):
    """Ends a dry run's transaction without committing it."""


def import_file(
    path: str | Path,
    db: str | Database,
    table: str,
    *,
    key: Sequence[str] | None = None,
    on_duplicate: OnDuplicate = "error",
    chunk_size: int = 10_000,
    schema: dict[str, str] | str | Path | None = None,
    bad_rows: str | Path | None = None,
    force: bool = False,
    dry_run: bool = False,
    progress: bool | None = False,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> ImportReport:
    """Import the CSV/TSV, JSONL, Parquet or Excel file PATH into TABLE of DB (a URL or a
    `Database`); see the module docstring. Raises `DuplicateDataError` when rows repeat
    KEY and ON_DUPLICATE is "error", `BadValue` for a value that does not fit its column
    (unless BAD_ROWS names a file to set such rows aside in), `AlreadyImported` when the
    same content went into TABLE before (unless FORCE), `ConfigError` for a wrong option, URL
    or header. DELIMITER and ENCODING are a CSV or TSV file's (default: by its name's ending;
    UTF-8). Nothing is written unless the whole import succeeds."""
    path = Path(path)
    if on_duplicate not in ("error", "skip", "update"):
        raise ConfigError(f"--on-duplicate must be error, skip or update, not {on_duplicate!r}")
    if chunk_size < 1:
        raise ConfigError("--chunk-size must be at least 1")
    check_table(table)
    if bad_rows is not None:
        _check_writable(Path(bad_rows), "--bad-rows")
    started = time.monotonic()
    digest = _sha256(path)
    report = ImportReport(str(path), table, dry_run=dry_run)
    database = connect(db) if isinstance(db, str) else db
    try:
        if "." in table and not database.schemas:
            raise ConfigError(
                f"{table!r}: SQLite does not support schemas; name the table {table.rpartition('.')[2]!r}"
            )
        with database.transaction(), _gc_paused():
            _Import(database, path, table, report, {"delimiter": delimiter, "encoding": encoding}).run(
                digest, key, on_duplicate, chunk_size, _schema(schema), bad_rows, force, progress
            )
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    except database.errors as exc:
        refused = ConfigError if is_setup_error(exc) else SinkError  # a setup to fix: as a wrong URL
        raise refused(
            f"{redact(database.url)} refused the import of {path} into {table}: {reason(exc)}; "
            "nothing was written"
        ) from None
    finally:
        if isinstance(db, str):
            database.close()
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of short-lived rows make the cyclic collector run often for nothing (rows hold
    no cycles): paused, an import runs about a quarter faster."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _check_writable(path: Path, flag: str) -> None:
    """Refuse now a file that could only be found unwritable at the end, after all the work."""
    problem = (
        "it is a folder; give a file's path"
        if path.is_dir()
        else f"the folder {path.parent} does not exist"
        if not path.parent.is_dir()
        else f"the folder {path.parent} is not writable"
        if not os.access(path.parent, os.W_OK)
        else ""
    )
    if problem:
        raise ConfigError(f"cannot write {flag} {path}: {problem}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except FileNotFoundError:
        raise SourceError(f"{path} does not exist") from None
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _schema(schema: dict[str, str] | str | Path | None) -> dict[str, SqlType]:
    if schema is None:
        return {}
    if not isinstance(schema, dict):
        try:
            schema = json.loads(Path(schema).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the schema file {schema}: {exc}") from exc
        if not isinstance(schema, dict):
            raise ConfigError('the schema file must be a JSON object: {"column": "integer", ...}')
    names = ", ".join(kind.value for kind in SqlType)
    try:
        return {str(column): SqlType(str(kind).lower()) for column, kind in schema.items()}
    except ValueError as exc:
        raise ConfigError(f"{exc} in the schema; the types are {names}") from None


class _Import:
    """One import, inside the transaction ``import_file`` opened."""

    def __init__(
        self, db: Database, path: Path, table: str, report: ImportReport, reading: dict[str, Any]
    ) -> None:
        self.db, self.path, self.table, self.report = db, path, table, report
        self.reading = reading  # how the file is read: read_table's options
        self.started = time.monotonic()
        self.target = quote(table)
        self.strings = False  # the file's values are all text (set when it is opened)
        schema = table.rpartition(".")[0]  # the history lives beside the table
        self.history = quote(f"{schema}.{HISTORY}" if schema else HISTORY)

    def run(
        self,
        digest: str,
        key: Sequence[str] | None,
        on_duplicate: OnDuplicate,
        chunk_size: int,
        schema: dict[str, SqlType],
        bad_rows: str | Path | None,
        force: bool,
        progress: bool | None,
    ) -> None:
        if not force:
            self._refuse_repeat(digest)
        with self._open(chunk_size) as (table, first):
            header = table.header
            existing = self.db.columns(self.table)
            kinds = self._kinds(header, existing, schema, first, table.kinds)
            keys = self._keys(header, key, existing)
            if existing is None:
                self._create(header, kinds, keys if key else None)
            # The usual case, a key the table's unique index covers, goes straight in: the index
            # checks each row as it comes. Only if it refuses one, or a value does not fit, is
            # the file read again, with care, into a staging table, to say which rows and where.
            direct = on_duplicate == "error" and sorted(keys) == sorted(self.db.unique_key(self.table))
            if direct:
                try:
                    with self.db.savepoint():
                        self._straight_in(table, first, kinds, bad_rows, progress)
                except self.db.duplicate_errors + MISFITS:
                    direct = False
        if not direct:
            with self._open(chunk_size) as (table, first):
                columns = self._declare(header, kinds, self.db.declared(self.table))
                self.db.execute(f"{self.db.temporary(STAGE)} (_line BIGINT, _chunk BIGINT, {columns})")
                self._stage(table, first, kinds, bad_rows, progress, chunk_size)
                began = time.monotonic()
                self._write(header, keys, on_duplicate, chunk_size)
                self.report.phases["write"] = time.monotonic() - began - self.report.phases.get("check", 0.0)
                self.db.execute(f"DROP TABLE {quote(STAGE)}")
        self._remember(digest)

    @contextmanager
    def _open(self, chunk_size: int) -> Iterator[tuple[Table, Chunk | None]]:
        table = read_table(self.path, chunk_size, **self.reading)
        self.strings = table.strings
        if table.keys is not None:  # JSONL: its keys, found once, for the next read
            self.reading = {**self.reading, "keys": table.keys}
        try:
            yield table, next(table.chunks, None)
        finally:
            table.close()

    def _stage(
        self,
        table: Table,
        first: Chunk | None,
        kinds: list[SqlType],
        bad_rows: str | Path | None,
        progress: bool | None,
        chunk_size: int,
    ) -> None:
        """Every row into the staging table with its line and chunk: a text file of one line per
        row streamed through one COPY; anything else (or a row that does not fit) read with care."""
        header = table.header
        columns = ["_line", "_chunk", *header]
        if table.rest is not None and first is not None and first.clean and bad_rows is None:
            began = time.monotonic()
            try:
                with self.db.savepoint():
                    loaded = self.db.load(
                        STAGE, columns, row_converter(kinds, strings=True)(first.rows, first.lines, 1)
                    )
                    stream = row_converter(kinds, strings=True, form="reader")(table.rest, chunk_size)
                    bar = make_progress(None, progress, unit="rows")
                    loaded += self.db.load(STAGE, columns, _counted(stream, bar))
                    bar.close()
                    if getattr(table.rest, "line_num", 0) - 1 != loaded:
                        raise ValueError("rows span several lines: number them with care")
                self.report.rows_read = loaded
                self.report.phases["read"] = time.monotonic() - began
                return
            except MISFITS:
                pass
        with self._open(chunk_size) as (again, first_again):
            self._copy(STAGE, header, kinds, _chain(first_again, again.chunks), bad_rows, progress)

    def _straight_in(
        self,
        table: Table,
        first: Chunk | None,
        kinds: list[SqlType],
        bad_rows: str | Path | None,
        progress: bool | None,
    ) -> None:
        """Every row into the table; a text file streamed through one COPY, at the speed of a
        hand-written script. Raises at the first row that does not fit."""
        if table.rest is None or (first is not None and not first.clean):
            self._copy(None, table.header, kinds, _chain(first, table.chunks), bad_rows, progress)
            if self.report.bad_rows:
                raise ValueError("rows set aside")  # set aside only where duplicates are explained too
            self.report.inserted = self.report.rows_read
            return
        began = time.monotonic()
        rows = chain(first.rows if first is not None else [], table.rest)
        convert = row_converter(kinds, strings=True, form="plain")
        bar = make_progress(None, progress, unit="rows")
        loaded = self.db.load(self.table, table.header, _counted(convert(rows), bar))
        bar.close()
        self.report.rows_read = self.report.inserted = loaded
        self.report.phases["read"] = time.monotonic() - began

    def _copy(
        self,
        stage: str | None,
        header: list[str],
        kinds: list[SqlType],
        chunks: Iterator[Chunk],
        bad_rows: str | Path | None,
        progress: bool | None,
    ) -> None:
        """Coerce and bulk-load every row: into STAGE, numbered, or else into the table."""
        began = time.monotonic()
        with _BadRows(bad_rows) as aside:
            bar = make_progress(None, progress, unit="rows")
            loaded = 0
            convert = row_converter(kinds, strings=self.strings)
            for number, chunk in enumerate(chunks, 1):
                rows = self._coerce(header, kinds, chunk, aside, number, convert)
                if stage is None:
                    self.db.load(self.table, header, (row[2:] for row in rows))
                else:
                    self.db.load(stage, ["_line", "_chunk", *header], rows)
                loaded += len(rows)
                bar.update(loaded, aside.count, 0)
            bar.close()
        self.report.rows_read = loaded + aside.count
        self.report.bad_rows = aside.count
        self.report.phases["read"] = time.monotonic() - began

    def _refuse_repeat(self, digest: str) -> None:
        """Raise `AlreadyImported` if this content went into the table before, under any name."""
        self._make_history()
        earlier = self.db.query(
            f"SELECT file, imported_at, inserted FROM {self.history} WHERE sha256 = ? AND target = ? "
            "ORDER BY imported_at",
            (digest, self.table),
        )
        if earlier:
            name, when, count = earlier[0]
            # the history is stale when the rows it speaks of are gone: import again
            if self.db.columns(self.table) is None:
                gone = "no longer exists"
            elif any(row[2] for row in earlier) and not self.db.query(f"SELECT 1 FROM {self.target} LIMIT 1"):
                gone = "is empty"
            else:
                gone = ""
            if gone:
                self.report.note = (
                    f"{self.path} was imported into {self.table} at {when}, but {self.table} {gone}: "
                    "importing it again"
                )
                return
            what = (
                f"{self.path} was already imported"
                if name == self.path.name
                else f"{self.path} has the same content as {name}, imported"
            )
            raise AlreadyImported(
                f"{what} into {self.table} at {when} ({count} rows inserted); "
                "nothing to do (--force imports it again)"
            )

    def _make_history(self) -> None:
        self.db.execute(
            f"""CREATE TABLE IF NOT EXISTS {self.history} (file TEXT, sha256 TEXT, target TEXT,
                rows_read BIGINT, inserted BIGINT, updated BIGINT, skipped BIGINT, bad_rows BIGINT,
                seconds REAL, imported_at TEXT)"""
        )

    def _remember(self, digest: str) -> None:
        r = self.report
        self._make_history()
        self.db.execute(
            f"INSERT INTO {self.history} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.path.name,
                digest,
                self.table,
                r.rows_read,
                r.inserted,
                r.updated,
                r.skipped,
                r.bad_rows,
                time.monotonic() - self.started,
                dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            ),
        )

    def _kinds(
        self,
        header: list[str],
        existing: dict[str, SqlType] | None,
        schema: dict[str, SqlType],
        first: Chunk | None,
        given: list[SqlType | None] | None,
    ) -> list[SqlType]:
        if existing is not None:
            unknown = [c for c in header if c not in existing]
            if unknown:
                raise ConfigError(
                    f"the header of {self.path} does not match the table {self.table}: no column "
                    f"{', '.join(map(repr, unknown))} (its columns: {', '.join(existing)})"
                )
            return [existing[c] for c in header]
        unknown = [c for c in schema if c not in header]
        if unknown:
            raise ConfigError(f"the schema names columns {unknown} that {self.path} does not have")
        rows = [] if first is None else [r for r in first.rows if not isinstance(r, RowProblem)]
        given = given or [None] * len(header)  # the file's own types (Parquet's), where it has them
        return [schema.get(c) or given[i] or infer(row[i] for row in rows) for i, c in enumerate(header)]

    def _keys(
        self, header: list[str], key: Sequence[str] | None, existing: dict[str, Any] | None
    ) -> list[str]:
        keys = list(key) if key else (self.db.unique_key(self.table) if existing else []) or header
        missing = [k for k in keys if k not in header]
        if missing:
            raise ConfigError(f"the key column(s) {missing} are not in {self.path} (its columns: {header})")
        return keys

    def _declare(
        self, header: list[str], kinds: list[SqlType], declared: dict[str, str] | None = None
    ) -> str:
        """The columns of a new table; those of DECLARED (an existing table's) as it has them."""
        if declared is not None:
            return ", ".join(f"{quote_column(c)} {declared[c]}" for c in header)
        return ", ".join(
            f"{quote_column(c)} {self.db.column_type(k)}" for c, k in zip(header, kinds, strict=True)
        )

    def _create(self, header: list[str], kinds: list[SqlType], keys: list[str] | None) -> None:
        columns = self._declare(header, kinds)
        self.db.execute(f"CREATE TABLE {self.target} ({columns})")
        if keys:
            name = quote_column(self.table.replace(".", "_")[: NAME_BYTES - 4] + "_key")  # never cut short
            self.db.execute(
                f"CREATE UNIQUE INDEX {name} ON {self.target} ({', '.join(map(quote_column, keys))})"
            )

    def _coerce(
        self,
        header: list[str],
        kinds: list[SqlType],
        chunk: Chunk,
        aside: _BadRows,
        number: int,
        convert: Any,
    ) -> list[Any]:
        """The chunk's rows that fit, coerced and numbered: (line, chunk number, values...)."""
        lines, rows = chunk.lines, chunk.rows
        if not chunk.clean:
            lines, rows = [], []
            for line, raw in zip(chunk.lines, chunk.rows, strict=True):
                if isinstance(raw, RowProblem):
                    aside.add(self.path, line, None, raw.message, raw.raw)
                else:
                    lines.append(line)
                    rows.append(raw)
        try:
            coerced: list[Any] = convert(rows, lines, number)
            return coerced
        except MISFITS:
            pass
        good: list[Any] = []
        for line, raw in zip(lines, rows, strict=True):  # find the rows that do not fit
            column, message = _which(header, kinds, raw)
            if column:
                aside.add(self.path, line, column, message, raw)
            else:
                good.extend(convert([raw], [line], number))
        return good

    def _write(self, header: list[str], keys: list[str], on_duplicate: OnDuplicate, chunk_size: int) -> None:
        """Check for duplicates, then move the rows to keep from the stage into the table."""
        # Key columns, the whole row's too, compare with "=" (fast, indexable): a NULL in a key
        # is never a duplicate, as in a UNIQUE index.
        match = _all(f"t.{quote_column(k)} = s.{quote_column(k)}" for k in keys)
        key_list = ", ".join(f"s.{quote_column(k)}" for k in keys)
        present = _all(f"s.{quote_column(k)} IS NOT NULL" for k in keys)
        in_table = f"EXISTS (SELECT 1 FROM {self.target} t WHERE {match})"
        # the rank of each row among those of the file with its key: 1 for the first
        partition = ", ".join(map(quote_column, keys))
        ranked = (
            f"(SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY _line) "
            f"AS _rank FROM {quote(STAGE)})"
        )
        columns = ", ".join(map(quote_column, header))
        if on_duplicate == "error":
            began = time.monotonic()
            try:
                self._refuse_duplicates(keys, key_list, in_table, chunk_size)
            finally:
                self.report.phases["check"] = time.monotonic() - began
            self.report.inserted = self.db.execute(
                f"INSERT INTO {self.target} ({columns}) SELECT {columns} FROM {quote(STAGE)}"
            )
            return
        if on_duplicate == "update":  # the file's last row with a key wins
            ranked = ranked.replace("ORDER BY _line)", "ORDER BY _line DESC)")
            others = [c for c in header if c not in keys]
            if others:
                assignments = ", ".join(f"{quote_column(c)} = s.{quote_column(c)}" for c in others)
                self.report.updated = self.db.execute(
                    f"UPDATE {self.target} AS t SET {assignments} FROM {ranked} AS s "
                    f"WHERE s._rank = 1 AND {match}"
                )
        keep = f"(s._rank = 1 OR NOT ({present})) AND NOT {in_table}"
        self.report.inserted = self.db.execute(
            f"INSERT INTO {self.target} ({columns}) SELECT {columns} FROM {ranked} AS s WHERE {keep}"
        )
        self.report.skipped = self.report.rows_read - self.report.bad_rows - self.report.inserted
        self.report.skipped -= self.report.updated

    def _refuse_duplicates(self, keys: list[str], key_list: str, in_table: str, chunk_size: int) -> None:
        """Raise `DuplicateDataError` if rows repeat a key of the file or of the table; a row
        that does both counts once, as a repeat."""
        found = quote(DUPLICATES)
        key_names = ", ".join(map(quote_column, keys))
        # grouped, not ranked: a hash of the keys instead of a sort of every row
        same_key = _all(f"s.{quote_column(k)} = f.{quote_column(k)}" for k in keys)
        self.db.execute(
            f"""{self.db.temporary(DUPLICATES)} AS
            SELECT 1 AS kind, s._line, s._chunk, {key_list} FROM {quote(STAGE)} AS s JOIN (
                SELECT {key_names}, min(_line) AS _first FROM {quote(STAGE)} GROUP BY {key_names}
                HAVING count(*) > 1
            ) AS f ON {same_key} WHERE s._line > f._first"""
        )
        self.db.execute(
            f"""INSERT INTO {found} SELECT 2, s._line, s._chunk, {key_list} FROM {quote(STAGE)} AS s
            WHERE {in_table} AND s._line NOT IN (SELECT _line FROM {found})"""
        )
        counts = dict(self.db.query(f"SELECT kind, count(*) FROM {found} GROUP BY kind"))
        if not counts:
            self.db.execute(f"DROP TABLE {found}")
            return
        chunks = int(self.db.query(f"SELECT count(DISTINCT _chunk) FROM {found}")[0][0])
        examples = self.db.query(f"SELECT * FROM {found} ORDER BY _line LIMIT {EXAMPLES}")
        kinds = {1: "repeating an earlier row of the file", 2: "already in the table"}
        total = sum(counts.values())
        summary = " and ".join(f"{counts[k]} {kinds[k]}" for k in sorted(counts))
        shown = [
            f"line {line}, {dict(zip(keys, values, strict=True))}: {kinds[kind]}"
            for kind, line, _, *values in examples
        ]
        raise DuplicateDataError(
            f"{total} rows of {self.path} duplicate the key ({', '.join(keys)}) of {self.table}: {summary} "
            f"(in {chunks} of the file's chunks of {chunk_size:,} rows). For example: {'; '.join(shown)}. "
            "Nothing was written; pass --on-duplicate skip to insert only new rows, "
            "or update to replace existing ones",
            duplicates=total,
            chunks=chunks,
            examples=tuple(shown),
        )


def _all(conditions: Iterable[str], flat: int = FLAT) -> str:
    """CONDITIONS joined with AND, nested in halves beyond FLAT of them: SQLite refuses an
    expression more than 1000 deep, and a chain of N ANDs is N deep (a 500-column row's key)."""
    terms = list(conditions)
    if len(terms) <= flat:
        return " AND ".join(terms)
    half = len(terms) // 2
    return f"({_all(terms[:half], flat)}) AND ({_all(terms[half:], flat)})"


def _which(header: list[str], kinds: list[SqlType], raw: Sequence[Any]) -> tuple[str, str]:
    """The first column of a row whose value does not fit, and why."""
    for column, kind, value in zip(header, kinds, raw, strict=True):
        if value is None or value == "":
            continue
        try:
            COERCE[kind](value)
        except (ValueError, TypeError, OverflowError, ArithmeticError):
            return column, f"column {column!r}: cannot read {value!r} as {DESCRIBED[kind]}"
    return "", ""


def _counted(rows: Iterator[Any], bar: Any, every: int = 50_000) -> Iterator[Any]:
    """ROWS, unchanged, with the progress bar told every EVERY rows."""
    for count, row in enumerate(rows, 1):
        if not count % every:
            bar.update(count, 0, 0)
        yield row


def _chain(first: Chunk | None, rest: Iterator[Chunk]) -> Iterator[Chunk]:
    if first is not None:
        yield first
        yield from rest


class _BadRows:
    """Rows set aside (``--bad-rows FILE``: a CSV of line, column, problem, row); without a
    file, the first bad row stops the import."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.count = 0
        self._writer: Any = None

    def __enter__(self) -> _BadRows:
        if self.path is not None:
            self._part = self.path.with_name(self.path.name + ".part")
            self._handle = self._part.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line", "column", "problem", "row"])
        return self

    def add(self, path: Path, line: int, column: str | None, message: str, raw: Any) -> None:
        if self._writer is None:
            schema = " give the column's type with --schema," if column else ""  # a type is the problem
            raise BadValue(
                f"{path} line {line}: {message}; nothing was written. Fix the file,{schema} or set such "
                "rows aside with --bad-rows FILE"
            )
        self.count += 1
        shown = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
        self._writer.writerow([line, column or "", message, shown])

    def __exit__(self, kind: object, *exc: object) -> None:
        if self._writer is not None:
            self._handle.close()
            if kind is None:
                self._part.replace(self.path)  # type: ignore[arg-type]
            else:
                self._part.unlink()
