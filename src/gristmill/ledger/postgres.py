"""A ledger in PostgreSQL that several coordinators, on several machines, share for one run.

Each coordinator claims pending items a batch at a time (``FOR UPDATE SKIP LOCKED``) under a
lease: the items are its own until it records them or the lease runs out. It renews its
leases whenever it records, so a live coordinator keeps what it claimed; one that dies
stops renewing, its leases expire and the others take its items over. A failed item is
retried only by a coordinator that started after it failed (so two live coordinators never
bounce one failure between them). Writes are batched: one statement per batch of outcomes,
with the values sent as arrays.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from threading import Event
from typing import Any, ClassVar

from gristmill._exceptions import ConfigError, LedgerError
from gristmill.ledger.base import Counts, Gone, Outcome, Record, Run, Status, Todo, unpack
from gristmill.manifest import Item, ManifestInfo, PlanChanges

log = logging.getLogger("gristmill")

CLAIM = 200  # items claimed at a time, at most
FIRST_CLAIM = 4  # the first claims are small, doubling: a small run is shared between coordinators
PAGE = 10_000  # rows read at a time from a server-side cursor
LEASE = 60.0  # seconds a claim lasts unless renewed
WAIT = 0.5  # seconds between looks for expired leases once nothing is claimable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gristmill_runs (
    run TEXT PRIMARY KEY, source TEXT, created_at DOUBLE PRECISION
);
ALTER TABLE gristmill_runs ADD COLUMN IF NOT EXISTS configuration TEXT;
CREATE TABLE IF NOT EXISTS gristmill_items (
    run TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    size BIGINT,
    fingerprint TEXT,
    status SMALLINT NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error_type TEXT,
    message TEXT,
    traceback TEXT,
    outputs TEXT,
    started DOUBLE PRECISION,
    duration DOUBLE PRECISION,
    worker TEXT,
    owner TEXT,
    lease_until TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (run, seq),
    UNIQUE (run, id)
);
CREATE INDEX IF NOT EXISTS gristmill_items_claimable ON gristmill_items (run, status, seq);
CREATE TABLE IF NOT EXISTS gristmill_steps (
    run TEXT NOT NULL, step TEXT NOT NULL, seconds DOUBLE PRECISION NOT NULL, PRIMARY KEY (run, step)
);
"""

# an item this coordinator may take: pending, or failed before it started (each run retries
# those once), and claimed by no one or by one whose lease expired
CLAIMABLE = (
    "(lease_until IS NULL OR lease_until < now()) "
    "AND (status = 0 OR (status = 2 AND finished_at < %(started)s))"
)

_RECORD = """
UPDATE gristmill_items AS i SET status = u.status, attempts = i.attempts + u.attempts,
    error_type = u.error_type, message = u.message, traceback = u.traceback, outputs = u.outputs,
    started = u.started, duration = u.duration, worker = u.worker,
    owner = NULL, lease_until = NULL, finished_at = now()
FROM unnest(%s::bigint[], %s::smallint[], %s::int[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::float8[], %s::float8[], %s::text[])
    AS u(seq, status, attempts, error_type, message, traceback, outputs, started, duration, worker)
WHERE i.run = %s AND i.seq = u.seq
"""


class PostgresLedger:
    """The run RUN's manifest and item states in the PostgreSQL database at URL.

    Give every coordinator the same URL and run name (``--state postgresql://...``): they
    share the manifest (the first to arrive lists the source) and divide the items between
    them as they go. LEASE is how long a claim lasts without being renewed: longer than the
    slowest batch of items takes, shorter than you would wait for a dead coordinator's items.
    """

    shared: ClassVar[bool] = True  # coordinators claim items: no listing streamed by one of them

    def __init__(self, url: str, run: str, *, lease: float = LEASE, claim: int = CLAIM) -> None:
        try:
            import psycopg
        except ImportError:
            raise ConfigError(
                "a PostgreSQL ledger needs psycopg: pip install 'gristmill[postgres]'"
            ) from None
        from gristmill.storage.urls import check_password, redact

        self.url, self.run, self.lease, self.claim = url, run, lease, claim
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._errors = psycopg.Error
        check_password(url, "the ledger URL")
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=10)
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext('gristmill_schema'))")
                self._db.execute(_SCHEMA)
            self._started = self._db.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            self._opened = time.time()
        except psycopg.Error as exc:
            from gristmill.sql.database import connection_failure

            raise ConfigError(f"cannot use the ledger at {redact(url)}: {connection_failure(exc)}") from None

    def __repr__(self) -> str:
        from gristmill.storage.urls import redact

        return f"PostgresLedger({redact(self.url)!r}, run={self.run!r})"

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except self._errors as exc:
            raise LedgerError(f"{self!r}: {exc}") from exc

    def _do(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        try:
            return self._db.execute(sql, params).rowcount
        except self._errors as exc:
            raise LedgerError(f"{self!r}: {exc}") from exc

    # -- the manifest ---------------------------------------------------------------------

    def manifest_info(self) -> ManifestInfo | None:
        found = self._rows("SELECT source, created_at FROM gristmill_runs WHERE run = %s", (self.run,))
        if not found or found[0][1] is None:
            return None
        count, total = self._rows(
            "SELECT count(*), coalesce(sum(size), 0) FROM gristmill_items WHERE run = %s", (self.run,)
        )[0]
        return ManifestInfo(int(count), int(total), found[0][0] or "", float(found[0][1]))

    def plan(self, items: Iterable[Item], *, source: str, gone: Gone | None = None) -> PlanChanges:
        """The first coordinator lists; one that comes while it does waits for it, then finds
        the manifest made (the lock is per run)."""
        with self._db.transaction():
            self._do("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"gristmill:{self.run}",))
            self._do(
                "INSERT INTO gristmill_runs (run, source) VALUES (%s, %s) ON CONFLICT (run) DO NOTHING",
                (self.run, source),
            )
            made = self.manifest_info()
            if made is not None and made.created_at > self._opened:
                return PlanChanges()  # another coordinator made it while this one waited
            changes = self._merge(items, gone)
            made_at = time.time()
            self._do(
                "UPDATE gristmill_runs SET source = %s, created_at = %s WHERE run = %s",
                (source, made_at, self.run),
            )
        self._opened = made_at  # made by this one: a later refresh of its own is not another's
        return changes

    def _merge(self, items: Iterable[Item], gone: Gone | None) -> PlanChanges:
        self._do("CREATE TEMPORARY TABLE IF NOT EXISTS gristmill_listing (id TEXT, size BIGINT, fp TEXT)")
        self._do("TRUNCATE gristmill_listing")
        iterator = iter(items)
        with self._db.cursor() as cursor, cursor.copy("COPY gristmill_listing FROM STDIN") as copy:
            for item in iterator:
                copy.write_row(tuple(item))
        run = (self.run,)
        unlisted = (
            "FROM gristmill_items i WHERE run = %s "
            "AND NOT EXISTS (SELECT 1 FROM gristmill_listing l WHERE l.id = i.id)"
        )
        if gone is not None:
            with self._db.cursor(name=f"gone_{uuid.uuid4().hex}") as rows:  # in plan's transaction
                rows.execute(f"SELECT id, size, fingerprint {unlisted} ORDER BY seq", run)
                while page := rows.fetchmany(PAGE):
                    gone([Item(*row) for row in page])
        removed = self._do(f"DELETE {unlisted}", run)
        changed = self._do(
            """UPDATE gristmill_items i SET size = l.size, fingerprint = l.fp, status = 0
               FROM gristmill_listing l WHERE i.run = %s AND i.id = l.id
               AND (i.fingerprint IS DISTINCT FROM l.fp OR i.size IS DISTINCT FROM l.size)""",
            run,
        )
        added = self._do(
            """INSERT INTO gristmill_items (run, seq, id, size, fingerprint)
               SELECT %s, coalesce((SELECT max(seq) FROM gristmill_items WHERE run = %s), 0)
                          + row_number() OVER (), l.id, l.size, l.fp
               FROM gristmill_listing l
               WHERE NOT EXISTS (SELECT 1 FROM gristmill_items i WHERE i.run = %s AND i.id = l.id)""",
            (self.run, self.run, self.run),
        )
        return PlanChanges(added=added, changed=changed, removed=removed)

    def extend(self, items: Sequence[Item]) -> list[Todo]:
        raise LedgerError("a shared ledger is planned whole (plan), not extended")

    def seal(self, *, source: str) -> None:
        raise LedgerError("a shared ledger is planned whole (plan), not sealed")

    # -- claiming and recording -----------------------------------------------------------

    def todo(self) -> Iterator[Todo]:
        """Claim items a batch at a time while any is claimable: pending ones, failed ones
        that failed before this coordinator started, and those whose claim expired. Never
        waits: the coordinator must go on recording (and so renewing its own claims) while
        others finish theirs."""
        size = min(FIRST_CLAIM, self.claim)
        while batch := self._claim(size):
            yield from batch
            size = min(self.claim, 2 * size)

    def redo_all(self) -> None:
        """All items back to pending but those claimed by another coordinator, and those
        finished since this one started (another coordinator's redoing)."""
        self._do(
            "UPDATE gristmill_items SET status = 0 WHERE run = %(run)s AND status <> 0 AND owner IS NULL "
            "AND (finished_at IS NULL OR finished_at < %(started)s)",
            {"run": self.run, "started": self._started},
        )

    def wait_for_others(self, stop: Event) -> bool:
        """Wait while other coordinators hold claims: one that died lets its claims expire,
        and they become this one's."""
        claimable = f"SELECT 1 FROM gristmill_items WHERE run = %(run)s AND {CLAIMABLE} LIMIT 1"
        params = {"run": self.run, "started": self._started}
        said = False
        while not stop.is_set():
            if self._rows(claimable, params):
                return True
            if not self.others_at_work():
                return False
            if not said:  # a wait of up to a lease, which would otherwise look like a hang
                log.info(
                    "waiting for the items other coordinators hold: those of one that stopped "
                    "become this one's when its claims lapse (%g s)",
                    self.lease,
                )
                said = True
            stop.wait(WAIT)
        return False

    def _claim(self, size: int) -> list[Todo]:
        rows = self._rows(
            f"""WITH c AS (
                    SELECT seq FROM gristmill_items
                    WHERE run = %(run)s AND {CLAIMABLE}
                    ORDER BY seq LIMIT %(claim)s FOR UPDATE SKIP LOCKED
                )
                UPDATE gristmill_items i SET owner = %(owner)s,
                    lease_until = now() + make_interval(secs => %(lease)s)
                FROM c WHERE i.run = %(run)s AND i.seq = c.seq
                RETURNING i.seq, i.id, i.size, i.fingerprint""",
            {
                "run": self.run,
                "claim": size,
                "owner": self.owner,
                "lease": self.lease,
                "started": self._started,
            },
        )
        return sorted((seq, id_, size, fp, 0) for seq, id_, size, fp in rows)

    def others_at_work(self) -> bool:
        held = self._rows(
            "SELECT 1 FROM gristmill_items WHERE run = %s AND lease_until >= now() AND owner <> %s LIMIT 1",
            (self.run, self.owner),
        )
        return bool(held)

    def record(self, outcomes: Sequence[Outcome], runs: Sequence[Run] = ()) -> None:
        rows = list(outcomes) + [o for run in runs for o in unpack(run)]
        if rows:
            columns = [list(column) for column in zip(*rows, strict=True)]
            self._do(_RECORD, (*columns, self.run))
        # still working: keep the claims not yet recorded
        self._do(
            "UPDATE gristmill_items SET lease_until = now() + make_interval(secs => %s) "
            "WHERE run = %s AND owner = %s",
            (self.lease, self.run, self.owner),
        )

    def add_step_seconds(self, seconds: Mapping[str, float]) -> None:
        for step, spent in seconds.items():  # summed in the table: coordinators add at once
            self._do(
                "INSERT INTO gristmill_steps VALUES (%s, %s, %s) ON CONFLICT (run, step) "
                "DO UPDATE SET seconds = gristmill_steps.seconds + excluded.seconds",
                (self.run, step, spent),
            )

    def step_seconds(self) -> dict[str, float]:
        return dict(self._rows("SELECT step, seconds FROM gristmill_steps WHERE run = %s", (self.run,)))

    def configuration(self) -> str | None:
        found = self._rows("SELECT configuration FROM gristmill_runs WHERE run = %s", (self.run,))
        return found[0][0] if found else None

    def set_configuration(self, configuration: str) -> None:
        self._do(
            "INSERT INTO gristmill_runs (run, configuration) VALUES (%s, %s) "
            "ON CONFLICT (run) DO UPDATE SET configuration = excluded.configuration",
            (self.run, configuration),
        )

    def release(self) -> None:
        """Give back the claims not recorded (a coordinator stopping early)."""
        self._do(
            "UPDATE gristmill_items SET owner = NULL, lease_until = NULL WHERE run = %s AND owner = %s",
            (self.run, self.owner),
        )

    # -- reading --------------------------------------------------------------------------

    def counts(self) -> Counts:
        found = dict(
            self._rows(
                "SELECT status, count(*) FROM gristmill_items WHERE run = %s GROUP BY status", (self.run,)
            )
        )
        return Counts(*(int(found.get(int(status), 0)) for status in Status))

    def records(self, *, status: Status | None = None, limit: int | None = None) -> Iterator[Record]:
        query = (
            "SELECT id, status, attempts, error_type, message, traceback, outputs, started, duration, worker "
            "FROM gristmill_items WHERE run = %s"
        )
        params: list[Any] = [self.run]
        if status is not None:
            query += " AND status = %s"
            params.append(int(Status(status)))
        query += " ORDER BY seq"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        # a server-side cursor: rows arrive a page at a time, not all at once
        try:
            with self._db.transaction(), self._db.cursor(name=f"records_{uuid.uuid4().hex}") as rows:
                rows.itersize = PAGE
                rows.execute(query, params)
                for row in rows:
                    yield Record(row[0], Status(row[1]), *row[2:])
        except self._errors as exc:
            raise LedgerError(f"{self!r}: {exc}") from exc

    def output_refs(self) -> Iterator[tuple[int, str]]:
        rows = self._rows(
            "SELECT seq, outputs FROM gristmill_items WHERE run = %s AND outputs IS NOT NULL ORDER BY seq",
            (self.run,),
        )
        yield from rows

    def done_items(self) -> Iterator[tuple[str, str | None, str | None]]:
        yield from self._rows(
            "SELECT id, fingerprint, outputs FROM gristmill_items"
            " WHERE run = %s AND status = %s ORDER BY seq",
            (self.run, int(Status.DONE)),
        )

    def close(self) -> None:
        try:
            self.release()
        finally:
            self._db.close()
