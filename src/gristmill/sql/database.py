"""One interface over the two databases gristmill writes: PostgreSQL (psycopg 3) and SQLite.

What differs between them lives here (connecting, type names, bulk loading, reading a
table's columns); the SQL the importer and the sink send is written once, for both.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gristmill._exceptions import ConfigError
from gristmill.sql.types import SqlType
from gristmill.storage.urls import check_password, redact

sqlite3.register_adapter(Decimal, str)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]*$")
NAME_BYTES = 63  # PostgreSQL silently cuts a longer name short


def quote(name: str) -> str:
    """NAME, a table's, as an SQL identifier; ``schema.table`` is quoted part by part."""
    if not _IDENTIFIER.match(name) or '"' in name:
        raise ConfigError(f"{name!r} is not a usable table or column name")
    return ".".join(f'"{part}"' for part in name.split("."))


def quote_column(name: str) -> str:
    """NAME, any text, as one SQL identifier: a column's name is data, from a file's header."""
    if problem := unusable(name):
        raise ConfigError(f"{name!r} cannot name a column: {problem}")
    return '"' + name.replace('"', '""') + '"'


def unusable(name: str) -> str:
    """Why NAME cannot name a column or table in both databases; "" when it can."""
    if not name:
        return "it is empty"
    if "\0" in name:
        return "it holds a NUL character"
    if len(name.encode()) > NAME_BYTES:
        return f"it is {len(name.encode())} bytes long, and PostgreSQL takes at most {NAME_BYTES}"
    return ""


def check_table(name: str) -> None:
    """Refuse a table name the databases would misread (``a.b.c``) or cut short (too long)."""
    parts = name.split(".")
    if len(parts) > 2 or not all(parts):
        raise ConfigError(f"{name!r} is not a usable table name: give TABLE or SCHEMA.TABLE")
    quote(name)
    for part in parts:
        if problem := unusable(part):
            raise ConfigError(f"{name!r} is not a usable table name: {part!r} {problem.removeprefix('it ')}")


def reason(exc: Exception) -> str:
    """A database error's message, its first line, with the column and value a COPY refused
    (which PostgreSQL gives only as context)."""
    if not str(exc).strip():
        return type(exc).__name__
    first = str(exc).strip().splitlines()[0]
    context = getattr(getattr(exc, "diag", None), "context", None) or ""
    column = re.search(r"^COPY .*?, line \d+, (column .*)$", context, re.MULTILINE)
    return f"{first} ({column[1]})" if column else first


# Errors the database's setup causes, not the file's rows: PostgreSQL's SQLSTATE classes of
# connections (08), authorization (28), missing database (3D) and a privilege (42501);
# SQLite's words for a file it cannot use.
_SETUP_STATES = ("08", "28", "3D", "42501")
_SETUP_WORDS = ("file is not a database", "readonly database", "unable to open database", "permission denied")


def is_setup_error(exc: Exception) -> bool:
    """Whether EXC is the database's setup to fix (a permission, a file that is no database)."""
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith(_SETUP_STATES) or any(word in str(exc) for word in _SETUP_WORDS)


def connection_failure(exc: Exception) -> str:
    """Why a connection failed, on one line: psycopg's message names host, port and user,
    never the password; its lines (the failure, then a hint such as "Is the server
    running...?") are joined, trimmed."""
    lines = [" ".join(line.split()) for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[:3]) or type(exc).__name__


class Database:
    """A connection with one open transaction at a time (``transaction()``)."""

    url: str
    types: dict[SqlType, str]
    errors: tuple[type[Exception], ...]  # what the driver raises when the database refuses
    duplicate_errors: tuple[type[Exception], ...]  # ... when a unique index refuses a row
    value_errors: tuple[type[Exception], ...]  # ... when it refuses a row's values (a constraint, a type)
    schemas = True  # a table may be named schema.table

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run SQL; the number of rows it changed."""
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Append ROWS to COLUMNS of TABLE in bulk, each value sent as its column's own type
        (PostgreSQL: COPY); how many."""
        raise NotImplementedError

    def columns(self, table: str) -> dict[str, SqlType] | None:
        """The table's columns and their types; None if there is no such table."""
        raise NotImplementedError

    def declared(self, table: str) -> dict[str, str] | None:
        """The table's columns and their types as declared (``numeric(10,2)``, ``uuid``), to
        make a table alike; None if there is no such table."""
        raise NotImplementedError

    def unique_key(self, table: str) -> list[str]:
        """The columns of the table's primary key, else of its first unique index; or []."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo what the block did if it raises."""
        self.execute("SAVEPOINT gristmill")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK TO SAVEPOINT gristmill")
            raise
        finally:
            self.execute("RELEASE SAVEPOINT gristmill")

    def close(self) -> None:
        raise NotImplementedError

    def temporary(self, name: str) -> str:
        """How a temporary table named NAME is made (it lasts as long as the connection)."""
        return f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(name)}"

    def column_type(self, kind: SqlType) -> str:
        return self.types[kind]

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(url: str) -> Database:
    """A database from a URL: ``postgresql://user:password@host:port/db`` or ``sqlite:///path``."""
    check_password(url, "the database URL")
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return Postgres(url)
    if scheme == "sqlite":
        return Sqlite(url)
    raise ConfigError(f"cannot use the database {redact(url)}: give postgresql://... or sqlite:///path.db")


class Sqlite(Database):
    types = {
        SqlType.INTEGER: "INTEGER",
        SqlType.DECIMAL: "NUMERIC",
        SqlType.BOOLEAN: "BOOLEAN",
        SqlType.DATE: "DATE",
        SqlType.TIMESTAMP: "TIMESTAMP",
        SqlType.TEXT: "TEXT",
    }
    errors = (sqlite3.Error,)
    duplicate_errors = (sqlite3.IntegrityError,)
    value_errors = (sqlite3.IntegrityError,)
    schemas = False

    def __init__(self, url: str) -> None:
        self.url = url
        path = url.split(":", 1)[1].removeprefix("//")
        path = path[1:] if path.startswith("/") else path  # sqlite:///rel.db, sqlite:////abs.db
        if not path:
            raise ConfigError("give the SQLite file: sqlite:///path/to/file.db")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=10000")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the SQLite database {path}: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        marks = ", ".join("?" * len(columns))
        names = ", ".join(map(quote_column, columns))
        return self._db.executemany(f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})", rows).rowcount

    def columns(self, table: str) -> dict[str, SqlType] | None:
        declared = self.declared(table)
        if declared is None:
            return None
        by_name = {v: k for k, v in self.types.items()} | {"REAL": SqlType.DECIMAL, "INT": SqlType.INTEGER}
        return {name: by_name.get(kind.upper(), SqlType.TEXT) for name, kind in declared.items()}

    def declared(self, table: str) -> dict[str, str] | None:
        rows = self._db.execute(f"PRAGMA table_info({quote(table)})").fetchall()
        return {name: kind for _, name, kind, *_ in rows} or None

    def unique_key(self, table: str) -> list[str]:
        rows = self._db.execute(f"PRAGMA table_info({quote(table)})").fetchall()
        primary = [name for _, name, _, _, _, pk in sorted(rows, key=lambda r: r[5]) if pk]
        if primary:
            return primary
        for _, index, unique, *_ in self._db.execute(f"PRAGMA index_list({quote(table)})").fetchall():
            if unique:
                return [name for _, _, name in self._db.execute(f"PRAGMA index_info({quote_column(index)})")]
        return []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class Postgres(Database):
    types = {
        SqlType.INTEGER: "bigint",
        SqlType.DECIMAL: "numeric",
        SqlType.BOOLEAN: "boolean",
        SqlType.DATE: "date",
        SqlType.TIMESTAMP: "timestamptz",
        SqlType.TEXT: "text",
    }
    # the column types whose binary COPY form psycopg makes from our values as they are, by name
    _binary = {
        "bigint": "int8",
        "numeric": "numeric",
        "boolean": "bool",
        "date": "date",
        "timestamp with time zone": "timestamptz",
        "text": "text",
        "character varying": "varchar",
    }
    _read_types = {
        "bigint": SqlType.INTEGER,
        "integer": SqlType.INTEGER,
        "smallint": SqlType.INTEGER,
        "numeric": SqlType.DECIMAL,
        "real": SqlType.DECIMAL,
        "double precision": SqlType.DECIMAL,
        "boolean": SqlType.BOOLEAN,
        "date": SqlType.DATE,
        "timestamp with time zone": SqlType.TIMESTAMP,
        "timestamp without time zone": SqlType.TIMESTAMP,
    }

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise ConfigError("PostgreSQL needs psycopg: pip install 'gristmill[postgres]'") from None
        self.url = url
        self.errors = (psycopg.Error,)
        self.duplicate_errors = (psycopg.errors.UniqueViolation,)
        self.value_errors = (psycopg.errors.IntegrityError, psycopg.errors.DataError)
        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        try:
            self._db = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to {redact(url)}: {connection_failure(exc)}") from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql.replace("?", "%s"), params or None).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql.replace("?", "%s"), params or None).fetchall()

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        # Binary COPY when every column takes our values' binary form; else text COPY, and the
        # server reads each value as its column's type (integer, real, uuid, jsonb...), checking
        # its range, where a binary int4 would silently wrap.
        types = {name: kind for name, kind, _ in self._attributes(table)}
        binary = [self._binary.get(types.get(column, ""), "") for column in columns]
        names = ", ".join(map(quote_column, columns))
        form = "BINARY" if all(binary) else "TEXT"
        with self._db.cursor() as cursor:
            with cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN (FORMAT {form})") as copy:
                if form == "BINARY":
                    copy.set_types(binary)
                for row in rows:
                    copy.write_row(row)
            return cursor.rowcount

    def _attributes(self, table: str) -> list[tuple[str, str, str]]:
        """(name, type, type as declared) of each column of TABLE, found as a query would
        (search path, temporary tables); [] if there is no such table."""
        return self._db.execute(
            """SELECT attname, format_type(atttypid, NULL), format_type(atttypid, atttypmod)
               FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped
               ORDER BY attnum""",
            (quote(table),),
        ).fetchall()

    def columns(self, table: str) -> dict[str, SqlType] | None:
        return {c: self._read_types.get(t, SqlType.TEXT) for c, t, _ in self._attributes(table)} or None

    def declared(self, table: str) -> dict[str, str] | None:
        return {c: declared for c, _, declared in self._attributes(table)} or None

    def unique_key(self, table: str) -> list[str]:
        rows = self._db.execute(
            """SELECT i.indexrelid, a.attname FROM pg_index i
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
               WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indpred IS NULL
               ORDER BY i.indisprimary DESC, i.indexrelid, array_position(i.indkey, a.attnum)""",
            (quote(table),),
        ).fetchall()
        return [name for index, name in rows if index == rows[0][0]]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._db.transaction():
            # room to sort and hash a million keys in memory (duplicate checks): this transaction only
            self._db.execute("SET LOCAL work_mem = '256MB'")
            yield

    def close(self) -> None:
        self._db.close()
