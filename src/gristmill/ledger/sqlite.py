"""The default ledger: one SQLite file (WAL) in the run's state folder."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, chain, islice, repeat
from pathlib import Path
from threading import Event
from typing import Any

from gristmill._exceptions import ConfigError, LedgerError
from gristmill.ledger.base import Counts, Gone, Outcome, Record, Run, Status, Todo
from gristmill.manifest import Item, ManifestInfo, PlanChanges

log = logging.getLogger("gristmill")
LEDGER_FILE = "ledger.sqlite"
RUN_LOCK = "run.lock"
PAGE = 10_000  # rows per insert chunk and per todo page: big enough to amortise, small in memory

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    size INTEGER,
    fingerprint TEXT,
    status INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error_type TEXT,
    message TEXT,
    traceback TEXT,
    outputs TEXT,
    started REAL,
    duration REAL,
    worker TEXT,
    batch INTEGER
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    started REAL NOT NULL,
    worker TEXT,
    durations BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (name TEXT PRIMARY KEY, seconds REAL NOT NULL);
"""

# Numbered parameters bind an outcome tuple as it comes from the worker, without reshaping.
_RECORD = """
UPDATE items SET status = ?2, attempts = attempts + ?3, error_type = ?4, message = ?5,
    traceback = ?6, outputs = ?7, started = ?8, duration = ?9, worker = ?10, batch = NULL
WHERE seq = ?1
"""
# A Run is recorded as one range update plus one row of packed timings: ~10x cheaper than
# a row update per item.
_RECORD_RUN = f"""
UPDATE items SET status = {int(Status.DONE)}, attempts = attempts + 1, error_type = NULL,
    message = NULL, traceback = NULL, outputs = NULL, started = NULL, duration = NULL,
    worker = NULL, batch = ?
WHERE seq BETWEEN ? AND ?
"""
# Many rows per INSERT statement: about twice as fast as executemany. 999 is the parameter
# limit of older SQLite builds.
MAX_PARAMETERS = 999


class SqliteLedger:
    """Manifest and item states in ``<state folder>/ledger.sqlite``.

    WAL mode lets ``gristmill status`` read while a run writes; every ``record`` call is
    one transaction, so a crash loses at most the outcomes not yet recorded.
    """

    def __init__(self, folder: str | Path, *, reader: bool = False) -> None:
        """``reader``: only to be read (status, reports), so a state folder on read-only
        media (an archive, another machine's shard) will do."""
        self.path = Path(folder) / LEDGER_FILE
        self._lock: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            if reader and self.path.is_file():
                self._db = _read_only(self.path)
                return
            raise ConfigError(
                f"cannot use the state folder {self.path.parent}: {exc}; "
                "make it writable or choose another with --state"
            ) from exc

    def __repr__(self) -> str:
        return f"SqliteLedger({str(self.path.parent)!r})"

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def manifest_info(self) -> ManifestInfo | None:
        created = self._meta("created_at")
        if created is None:
            return None
        count, total = self._db.execute("SELECT count(*), sum(size) FROM items").fetchone()
        return ManifestInfo(count, total or 0, self._meta("source") or "", float(created))

    def plan(self, items: Iterable[Item], *, source: str, gone: Gone | None = None) -> PlanChanges:
        if self._is_empty():
            added = 0
            iterator = iter(items)
            while chunk := list(islice(iterator, PAGE)):
                added += len(self.extend(chunk))
            changes = PlanChanges(added=added)
        else:  # a stored manifest, or one a crash left half made: merge, keeping states
            with self._transaction():
                changes = self._merge(items, gone)
        self.seal(source=source)
        return changes

    def _is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM items LIMIT 1").fetchone() is None

    def extend(self, items: Sequence[Item]) -> list[Todo]:
        ids, sizes, fingerprints = zip(*items, strict=True) if items else ((), (), ())
        # SQLite numbers the rows itself (max seq + 1 onwards: we are the only writer), so only
        # the listing is bound; and binding None is slow in sqlite3 (it goes through the adapter
        # lookup): a listing with neither sizes nor fingerprints stores the ids alone.
        if sizes.count(None) < len(sizes) or fingerprints.count(None) < len(fingerprints):
            columns, width = "id, size, fingerprint", 3
            values: Sequence[Any] = list(chain.from_iterable(items))
        else:
            columns, width, values = "id", 1, ids
        per = MAX_PARAMETERS // width
        row = f"({', '.join('?' * width)})"
        many = f"INSERT INTO items ({columns}) VALUES {', '.join([row] * per)}"
        whole = len(values) - len(values) % (per * width)
        with self._transaction():
            first = self._db.execute("SELECT coalesce(max(seq), 0) + 1 FROM items").fetchone()[0]
            for start in range(0, whole, per * width):
                self._db.execute(many, values[start : start + per * width])
            if whole < len(values):
                rest = (len(values) - whole) // width
                tail = f"INSERT INTO items ({columns}) VALUES {', '.join([row] * rest)}"
                self._db.execute(tail, values[whole:])
        return list(zip(range(first, first + len(ids)), ids, sizes, fingerprints, repeat(0)))

    def seal(self, *, source: str) -> None:
        # The id index is built once the listing is in: several times cheaper than keeping
        # it up to date row by row while a first run streams its listing.
        try:
            self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS items_id ON items (id)")
        except sqlite3.IntegrityError as exc:
            (dup,) = self._db.execute(
                "SELECT id FROM items GROUP BY id HAVING count(*) > 1 LIMIT 1"
            ).fetchone()
            raise ConfigError(f"the source listed the item {dup!r} twice; ids must be unique") from exc
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("source", source), ("created_at", repr(time.time()))],
            )

    def _merge(self, items: Iterable[Item], gone: Gone | None) -> PlanChanges:
        db = self._db
        db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS listing (id TEXT PRIMARY KEY, size INTEGER, fingerprint TEXT)"
        )
        db.execute("DELETE FROM listing")
        iterator = iter(items)
        while chunk := list(islice(iterator, PAGE)):
            db.executemany("INSERT OR REPLACE INTO listing VALUES (?, ?, ?)", chunk)
        unlisted = "FROM items WHERE id NOT IN (SELECT id FROM listing)"
        if gone is not None:
            rows = db.cursor().execute(f"SELECT id, size, fingerprint {unlisted} ORDER BY seq")
            while page := rows.fetchmany(PAGE):
                gone([Item(*row) for row in page])
        removed = db.execute(f"DELETE {unlisted}").rowcount
        changed = db.execute(
            """UPDATE items SET size = l.size, fingerprint = l.fingerprint, status = 0
               FROM listing AS l WHERE items.id = l.id
               AND (items.fingerprint IS NOT l.fingerprint OR items.size IS NOT l.size)"""
        ).rowcount
        added = db.execute(
            """INSERT INTO items (id, size, fingerprint) SELECT id, size, fingerprint FROM listing
               WHERE id NOT IN (SELECT id FROM items) ORDER BY rowid"""
        ).rowcount
        db.execute("DELETE FROM listing")
        return PlanChanges(added=added, changed=changed, removed=removed)

    def todo(self) -> Iterator[Todo]:
        wanted = f"seq > ? AND status IN ({int(Status.PENDING)}, {int(Status.FAILED)})"
        query = f"SELECT seq, id, size, fingerprint, 0 FROM items WHERE {wanted} ORDER BY seq LIMIT {PAGE}"
        last = 0
        while rows := self._db.execute(query, (last,)).fetchall():
            yield from rows
            last = rows[-1][0]

    def record(self, outcomes: Sequence[Outcome], runs: Sequence[Run] = ()) -> None:
        if not outcomes and not runs:
            return
        with self._transaction():
            if outcomes:
                self._db.executemany(_RECORD, outcomes)
            for run in runs:
                batch = self._db.execute(
                    "INSERT INTO batches (first_seq, started, worker, durations) VALUES (?, ?, ?, ?)",
                    (run.first, run.started, run.worker, run.durations),
                ).lastrowid
                self._db.execute(_RECORD_RUN, (batch, run.first, run.first + run.length - 1))

    def redo_all(self) -> None:
        with self._transaction():
            self._db.execute(
                f"UPDATE items SET status = {int(Status.PENDING)} WHERE status != {int(Status.PENDING)}"
            )

    def add_step_seconds(self, seconds: Mapping[str, float]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT INTO steps VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET seconds = seconds + excluded.seconds",
                seconds.items(),
            )

    def step_seconds(self) -> dict[str, float]:
        return dict(self._db.execute("SELECT name, seconds FROM steps"))

    def configuration(self) -> str | None:
        return self._meta("configuration")

    def set_configuration(self, configuration: str) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('configuration', ?)", (configuration,))

    def counts(self) -> Counts:
        found = dict(self._db.execute("SELECT status, count(*) FROM items GROUP BY status"))
        return Counts(*(found.get(status, 0) for status in Status))

    def records(self, *, status: Status | None = None, limit: int | None = None) -> Iterator[Record]:
        query = (
            "SELECT id, status, attempts, error_type, message, traceback, outputs, started, "
            "duration, worker, seq, batch FROM items"
        )
        params: tuple[int, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            params = (int(Status(status)),)
        query += " ORDER BY seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        statuses = tuple(Status)
        run: tuple[int | None, int, str | None, array[float], list[float]] = (None, 0, None, array("d"), [])
        # its own cursor: the caller may use the ledger while it reads
        for row in self._db.cursor().execute(query, params):
            seq, batch = row[10:]
            if batch is None:
                yield Record(row[0], statuses[row[1]], *row[2:10])
                continue
            # recorded as part of a run: the item's timing is in the run's row, read once per run
            if batch != run[0]:
                first, started, worker, durations = self._db.execute(
                    "SELECT first_seq, started, worker, durations FROM batches WHERE id = ?", (batch,)
                ).fetchone()
                timings = array("d", durations)
                run = (batch, first, worker, timings, list(accumulate(timings, initial=started)))
            index = seq - run[1]
            attempts, error_type, message, traceback, outputs = row[2:7]
            yield Record(
                row[0],
                statuses[row[1]],
                attempts,
                error_type,
                message,
                traceback,
                outputs,
                run[4][index],
                run[3][index],
                run[2],
            )

    def output_refs(self) -> Iterator[tuple[int, str]]:
        yield from self._db.execute("SELECT seq, outputs FROM items WHERE outputs IS NOT NULL ORDER BY seq")

    def wait_for_others(self, stop: Event) -> bool:
        return False  # the run's only coordinator

    def others_at_work(self) -> bool:
        return False

    def done_items(self) -> Iterator[tuple[str, str | None, str | None]]:
        query = f"SELECT id, fingerprint, outputs FROM items WHERE status = {int(Status.DONE)} ORDER BY seq"
        yield from self._db.execute(query)

    def lock(self) -> None:
        """Be the only run on this state folder until closed: two coordinators on one
        SQLite ledger would each do every item. Another run is refused, naming this one's
        process; the lock goes with the process, however it ends."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks of this kind
            return
        fd = os.open(self.path.parent / RUN_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if not isinstance(exc, BlockingIOError):  # a filesystem without locks (some NFS)
                os.close(fd)
                log.warning(
                    "the state folder %s cannot be locked (%s): make sure no other run uses it at once",
                    self.path.parent,
                    exc.strerror,
                )
                return
            holder = os.read(fd, 20).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"another run (process {holder}) is using the state folder {self.path.parent}; "
                "wait for it to end, or give this one another --state"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock = fd

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            os.close(self._lock)  # and with it the lock
            self._lock = None

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.path)


def _read_only(path: Path) -> sqlite3.Connection:
    """PATH opened only to read: on read-only media a WAL database can be read only as
    immutable (its shared-memory file cannot be made), which is what such media hold."""
    for mode in ("mode=ro", "immutable=1"):
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, isolation_level=None)
            db.execute("SELECT count(*) FROM items").fetchone()
            return db
        except sqlite3.Error as exc:
            error = exc
    raise ConfigError(f"cannot read the ledger {path}: {error}") from error


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error, SQLite errors made LedgerErrors."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot write the ledger {self._path}: {exc}") from exc

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise LedgerError(f"cannot write the ledger {self._path}: {exc}") from exc
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as err:
            raise LedgerError(f"cannot write the ledger {self._path}: {err}") from err
