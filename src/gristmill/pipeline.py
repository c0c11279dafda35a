"""Pipeline: a source, processors and a sink, run resumably over a ledger."""

from __future__ import annotations

import contextlib
import copy
import logging
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gristmill._exceptions import ConfigError, GristmillError, SourceError
from gristmill.executors.base import DEFAULT_BACKOFF, DEFAULT_RETRIES, Bundle, Executor
from gristmill.executors.inline import InlineExecutor
from gristmill.executors.pool import PoolExecutor
from gristmill.executors.ray import RayExecutor
from gristmill.ledger.base import (
    ATTEMPTS,
    ERROR_TYPE,
    MESSAGE,
    SEQ,
    STATUS,
    WORKER,
    Counts,
    Ledger,
    Outcome,
    Run,
    Status,
    Todo,
    failure,
    unpack,
)
from gristmill.ledger.sqlite import SqliteLedger
from gristmill.manifest import Item, PlanChanges, Shard
from gristmill.processed import ProcessedManifest
from gristmill.processors import Compose, Processor
from gristmill.sinks.base import Sink
from gristmill.sources.base import Source
from gristmill.storage.urls import LOCAL_PROTOCOLS, check_password, protocol, redact
from gristmill.telemetry import Metrics, Progress, make_progress, run_span

log = logging.getLogger("gristmill")

STATE_ROOT = Path(".gristmill")
FLUSH_ITEMS = 20_000  # outcomes buffered before the ledger is written…
FLUSH_SECONDS = 1.0  # …or this long after the last write, whichever comes first
LIST_CHUNK = 5_000  # items listed, stored and handed to workers at a time on a first run
DONE, FAILED = int(Status.DONE), int(Status.FAILED)


# A libpq keyword string: `host=... password=...`.
_LIBPQ_KEYWORDS = re.compile(r"(?i)(?:^|\s)(?:host|hostaddr|dbname|user|password|port|sslmode|service)\s*=")


def check_state(state: str | None) -> str | None:
    """--state as the ledger takes it: a folder, or a PostgreSQL URL (SQLAlchemy's
    ``postgresql+psycopg://`` too). Another URL or a libpq keyword string is refused: taken
    for a folder, it would make a local ledger named after the password."""
    if state is None:
        return None
    scheme = protocol(state)
    if scheme.partition("+")[0] in ("postgresql", "postgres"):
        check_password(state, "--state")
        return "postgresql://" + state.partition("://")[2]  # psycopg takes no +driver
    if scheme not in LOCAL_PROTOCOLS or _LIBPQ_KEYWORDS.search(state):
        raise ConfigError(
            f"--state takes a folder or a postgresql:// URL, not {redact(state)!r} (a libpq "
            "'host=... dbname=...' string goes in the URL's form)"
        )
    return state


def is_database_url(state: str | Path | None) -> bool:
    """Whether a ``--state`` names a PostgreSQL database rather than a folder."""
    return isinstance(state, str) and state.split("://", 1)[0].lower() in ("postgresql", "postgres")


class RunOptions(BaseModel):
    """How to run a pipeline. Every option of ``gristmill run`` is here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: Path | None = None
    database: str | None = None  # postgresql://...: a ledger shared by several coordinators
    workers: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    max_items: int | None = Field(default=None, ge=0)
    reprocess: bool = False
    refresh: bool = False
    prune: bool = False  # refresh, and remove the outputs of items no longer listed
    retries: int = Field(default=DEFAULT_RETRIES, ge=0)
    backoff: float = Field(default=DEFAULT_BACKOFF, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    fail_fast: bool = False
    progress: bool | None = None
    start_method: str | None = None
    max_items_per_worker: int | None = Field(default=None, ge=1)
    shard: Shard | None = None  # (I, N), I from 1: this run's part of the manifest
    downloads: int | None = Field(default=None, ge=1)  # items a worker opens at once (default: the source's)
    processed_manifest: str | None = None  # its URL (default: beside outputs in a store)
    ray_address: str | None = None  # the Ray cluster for executor="ray"
    threads: int = Field(default=1, ge=1)  # items at once in each Ray worker

    @model_validator(mode="before")
    @classmethod
    def _state_in_a_database(cls, data: Any) -> Any:
        # ``state="postgresql://..."`` (``--state``) names a shared ledger, not a folder
        if not isinstance(data, dict):
            return data
        state, database = data.get("state"), data.get("database")
        if isinstance(state, str):
            data = {**data, "state": check_state(state)}
            if is_database_url(data["state"]):
                data = {**data, "state": None, "database": data["state"]}
        if isinstance(database, str):
            data = {**data, "database": check_state(database)}
            if not is_database_url(data["database"]):
                raise ConfigError(f"database= takes a postgresql:// URL, not {redact(database)!r}")
        return data

    @field_validator("shard", mode="before")
    @classmethod
    def _shard_as_written(cls, shard: object) -> object:
        return Shard.parse(shard) if isinstance(shard, str) else shard  # "2/3", as on the command line

    @field_validator("shard")
    @classmethod
    def _shard_exists(cls, shard: Shard | None) -> Shard | None:
        # checked() raises a ConfigError, not a ValueError: pydantic lets it through as it is
        return None if shard is None else shard.checked()


class RunResult(NamedTuple):
    """What a run did, and where the whole manifest stands after it."""

    done: int
    failed: int
    skipped: int
    seconds: float
    counts: Counts
    interrupted: bool
    changes: PlanChanges

    @property
    def exit_code(self) -> int:
        """0 all done, 1 failed items remain, 130 interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.counts.failed else 0


class Pipeline:
    """A source, processors and a sink.

    ``run`` lists the source once into the ledger (the manifest), then processes every item
    that is not done yet; run it again after a crash or Ctrl-C and it carries on.
    """

    def __init__(
        self,
        source: Source,
        processors: Processor | Sequence[Processor] = (),
        sink: Sink | None = None,
        *,
        name: str = "pipeline",
    ) -> None:
        if not re.fullmatch(r"[\w.\-]+", name):
            raise ConfigError(f"pipeline name {name!r} must be letters, digits, '.', '-' or '_'")
        self.source = source
        if isinstance(processors, Processor):
            processors = [processors]
        steps = list(processors)
        self.processor: Processor | None = (
            steps[0] if len(steps) == 1 else (Compose(*steps) if steps else None)
        )
        self.sink = sink
        self.name = name

    def __repr__(self) -> str:
        return f"Pipeline(name={self.name!r}, source={self.source!r}, sink={self.sink!r})"

    def state_folder(self, state: Path | None = None, shard: Shard | None = None) -> Path:
        if state is not None:
            return state
        folder = STATE_ROOT / self.name
        return folder if shard is None else folder / shard.label

    def run_name(self, shard: Shard | None = None) -> str:
        """The run's name in a shared ledger: the pipeline's, and its shard."""
        return self.name if shard is None else f"{self.name}/{shard.label}"

    def open_ledger(self, state: Path | None = None, shard: Shard | None = None) -> SqliteLedger:
        return SqliteLedger(self.state_folder(state, shard))

    def plan(
        self, ledger: Ledger, *, refresh: bool = False, shard: Shard | None = None, prune: bool = False
    ) -> PlanChanges:
        """Make the manifest if there is none (or ``refresh``); a stored one is left as it is.

        With ``shard``, the manifest holds only that shard's items. ``prune`` refreshes it
        and has the sink remove the outputs of the items the source no longer lists (without
        it, they stay where they are).
        """
        refresh = refresh or prune
        self.source.check()
        info = ledger.manifest_info()
        described = self._describe(shard)
        if info is not None and _shard_of(info.source) != _shard_of(described):
            raise ConfigError(
                f"the ledger at this --state holds the manifest of {info.source}, not of {described}; "
                "each shard keeps its own state folder: give another --state"
            )
        if info is not None and not refresh:
            if info.source != described:
                raise ConfigError(
                    f"the ledger at this --state holds the manifest of {info.source}, not of {described}; "
                    "give another --state, or, if it is the same corpus in a new place, add "
                    "--force-refresh to list it into this ledger (items are matched by id)"
                )
            return PlanChanges()
        listing = iter(self._listing(shard))
        if not prune or self.sink is None:
            return ledger.plan(listing, source=described)
        first = next(listing, None)
        if not self.source.listed_whole():
            raise ConfigError(
                f"{described} could not be listed whole (see above): --prune would delete the outputs "
                "of the files it missed; make them readable, or run without --prune"
            )
        if first is None and info is not None and info.items:  # a wrong or unmounted folder, most likely
            raise ConfigError(
                f"{described} lists no items now: --prune would delete the outputs of all "
                f"{info.items} items; check the source, or delete the outputs yourself"
            )
        listed = listing if first is None else chain([first], listing)
        return ledger.plan(listed, source=described, gone=self.sink.forget)

    def _describe(self, shard: Shard | None) -> str:
        """What the manifest is a listing of, as stored with it."""
        source = self.source.describe()
        return source if shard is None else f"{source} (shard {shard})"

    def _listing(self, shard: Shard | None) -> Iterable[Item]:
        items = _listed(self.source)
        return items if shard is None else shard.select(items)

    def run(
        self,
        *,
        executor: Executor | Literal["pool", "ray", "inline"] = "pool",
        ledger: Ledger | None = None,
        **options: Any,
    ) -> RunResult:
        """Process every item not done yet.

        Args:
            executor: ``"pool"`` (local processes), ``"ray"`` (a Ray cluster: ``RAY_ADDRESS``,
                else one started here), ``"inline"`` (this process), or an executor instance.
            ledger: where item states are kept; by default a `SqliteLedger` in the state
                folder.
            **options: those of `RunOptions` (``workers``, ``max_items``, ``shard=(2, 3)``…).
        """
        try:
            opts = RunOptions(**options)
        except ValueError as exc:
            raise ConfigError(f"invalid run options: {exc}") from exc
        if isinstance(executor, str):
            executor = _executor(executor, opts)
        if opts.shard is not None and self.sink is not None:
            shard_run = copy.copy(self)  # the same pipeline, its sink writing as this shard
            shard_run.sink = self.sink.for_shard(opts.shard)
            return shard_run._execute(executor, ledger, opts)
        return self._execute(executor, ledger, opts)

    def _execute(self, executor: Executor, ledger: Ledger | None, opts: RunOptions) -> RunResult:
        owned = ledger is None
        if ledger is None and opts.database is not None:
            from gristmill.ledger.postgres import PostgresLedger

            ledger = PostgresLedger(opts.database, self.run_name(opts.shard))
        ledger = ledger or self.open_ledger(opts.state, opts.shard)
        try:
            if owned and isinstance(ledger, SqliteLedger):
                ledger.lock()  # its state folder is this run's alone
            if self.sink is not None:
                self.sink.check()
            with run_span(self.name, {"gristmill.executor": type(executor).__name__}) as span:
                result = self._run(ledger, executor, opts)
                if span is not None:
                    span.set_attributes(
                        {f"gristmill.{name}": getattr(result, name) for name in ("done", "failed", "skipped")}
                    )
            return result
        finally:
            if self.sink is not None:
                self.sink.close()
            if owned:
                ledger.close()

    def _run(self, ledger: Ledger, executor: Executor, opts: RunOptions) -> RunResult:
        start = time.monotonic()
        configuration = self._configuration(ledger, opts.reprocess)
        downloads = opts.downloads if opts.downloads is not None else self.source.downloads()
        local = isinstance(executor, PoolExecutor | InlineExecutor)
        bundle = Bundle(self.source, self.processor, self.sink, opts.retries, opts.backoff, downloads, local)
        progress = make_progress(None, opts.progress)
        listed: list[int] = []
        changes = PlanChanges()
        todo: Iterator[Todo]
        shared = getattr(ledger, "shared", False)  # coordinators claim items: the listing is planned whole
        processed = ProcessedManifest.for_run(self.sink, opts.processed_manifest, opts.shard)
        fresh = ledger.counts().total == 0
        if processed is not None and fresh and (done := processed.load()):
            # Another machine (or a lost state folder) got this far: continue from there.
            changes = self.plan(ledger, shard=opts.shard)
            marked = processed.apply(ledger, done, configuration)
            log.info("%s: %d items already done", processed, marked)
            fresh = False
        if fresh and opts.max_items is None and not shared:
            self.source.check()
            todo = self._list_and_process(ledger, progress, listed, opts.shard)
        else:
            replanned = self.plan(ledger, refresh=opts.refresh, shard=opts.shard, prune=opts.prune)
            changes = replanned if any(replanned) else changes
            if opts.reprocess:
                ledger.redo_all()
            else:
                self._redo_lost_outputs(ledger)
            todo = ledger.todo()
            before = ledger.counts()
            planned = before.pending + before.failed
            if opts.max_items is not None:
                todo = islice(todo, opts.max_items)
                planned = min(planned, opts.max_items)
            progress.set_total(planned)
        if configuration is not None:  # recorded once the run is sure to start (and redo)
            ledger.set_configuration(configuration)
        stop = threading.Event()
        recorder = _Recorder(
            ledger, self.sink, progress, processed, flush_sink=local, metrics=Metrics(self.name)
        )
        with _signals_stop(stop) as signalled:
            try:
                while True:
                    for outcomes, runs, payloads, steps in executor.map(bundle, todo, stop):
                        recorder.add(outcomes, runs, payloads, steps)
                        if opts.fail_fast and recorder.failed and not stop.is_set():
                            log.warning("--fail-fast: stopped at the first failure; the rest stay pending")
                            stop.set()
                    recorder.flush()
                    # a shared ledger: another round for the items of a coordinator that died
                    if stop.is_set() or opts.max_items is not None or not ledger.wait_for_others(stop):
                        break
                    todo = ledger.todo()
            except KeyboardInterrupt:  # a second Ctrl-C (or one raised in this process): leave now
                stop.set()
                signalled.append(signal.SIGINT)
            finally:
                recorder.close()
        interrupted = bool(signalled)
        if self.sink is not None and not interrupted:
            self.sink.finish(ledger)
        counts = ledger.counts()
        if listed:
            changes = PlanChanges(added=listed[0])
        return RunResult(
            recorder.done,
            recorder.failed,
            recorder.skipped,
            time.monotonic() - start,
            counts,
            interrupted,
            changes,
        )

    def _configuration(self, ledger: Ledger, reprocess: bool) -> str | None:
        """This pipeline's processors (names and configuration hash), where the ledger's
        differ: refused if its items were finished by those, unless they are all to be redone
        (their outputs would be kept as if these had made them); None where they are the same."""
        steps = self.processor
        now = f"{steps.name} {steps.checked_hash()}" if steps is not None else "(no processors) -"
        before = ledger.configuration()
        if (before != now or reprocess) and ledger.others_at_work():
            change = "--reprocess" if before == now else f"other processors than theirs ({before})"
            raise ConfigError(
                f"other coordinators are processing this run's items: {change} would mix their "
                "outputs with this one's; start it when they have stopped"
            )
        if before == now:
            return None
        counts = ledger.counts()
        finished = counts.done + counts.skipped
        if before is not None and finished and not reprocess:
            then_name, now_name = before.rpartition(" ")[0], now.rpartition(" ")[0]
            if then_name == now_name:
                how = f"by {now_name} with another configuration or version"
            else:
                how = f"by {then_name}, not {now_name}"
            raise ConfigError(
                f"the {finished} items finished at this state were done {how}: add --reprocess "
                "(reprocess=True) to redo them all with these processors, or run this pipeline "
                "under another name (or --state) and into another output to keep both"
            )
        return now

    def _redo_lost_outputs(self, ledger: Ledger) -> None:
        """Done items whose outputs were deleted since go back to pending: nothing is lost."""
        if self.sink is None:
            return
        lost = self.sink.lost(ledger.output_refs())
        if lost:
            log.info("%d done items lost their outputs: they are done again", len(lost))
            reason = "its outputs were deleted after it was done"
            ledger.record(
                [failure(seq, "OutputLost", reason, attempts=0, status=Status.PENDING) for seq in lost]
            )

    def _list_and_process(
        self, ledger: Ledger, progress: Progress, listed: list[int], shard: Shard | None
    ) -> Iterator[Todo]:
        """First run: store the listing a chunk at a time and hand each chunk straight on,
        so workers start on the first items while the rest are still being listed. A run
        stopped before the listing ends leaves the manifest unsealed; the next run lists
        again and merges, keeping what was done."""

        def chunks() -> Iterator[list[Todo]]:
            items = iter(self._listing(shard))
            total = 0
            while chunk := list(islice(items, LIST_CHUNK)):
                todo = ledger.extend(chunk)
                total += len(todo)
                yield todo
            ledger.seal(source=self._describe(shard))
            progress.set_total(total)
            listed.append(total)

        return chain.from_iterable(chunks())  # items flow on at C speed, chunks in Python


def _listed(source: Source) -> Iterator[Item]:
    """SOURCE's items; its own error (an API's page that failed) is said as the listing's."""
    try:
        yield from source.list()
    except GristmillError:
        raise
    except Exception as exc:
        raise SourceError(
            f"listing {source.describe()} failed: {type(exc).__name__}: {exc}; "
            "what was done is kept: run again to resume"
        ) from exc


class _Recorder:
    """Writes outcomes (and a batched sink's payloads) in batches: checkpointing stays cheap."""

    def __init__(
        self,
        ledger: Ledger,
        sink: Sink | None,
        progress: Any,
        processed: ProcessedManifest | None = None,
        *,
        flush_sink: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.processed = processed
        # workers on this machine leave their outputs in the system's cache: flushed before
        # they are recorded done (Sink.flush), once for all of them
        self.flush_sink = sink.flush if sink is not None and flush_sink else None
        self.sink = sink if sink is not None and sink.batched else None
        self.progress = progress
        self.outcomes: list[Outcome] = []
        self.runs: list[Run] = []
        self.pending = 0  # outcomes held, not yet written
        self.payloads: list[Any] = []
        self.commit_items = (self.sink.commit_items if self.sink is not None else None) or FLUSH_ITEMS
        self.flushed = time.monotonic()
        self.done = self.failed = self.skipped = 0
        self.step_seconds: Counter[str] = Counter()  # not yet written

    def add(
        self, outcomes: list[Outcome], runs: list[Run], payloads: list[Any] | None, steps: dict[str, float]
    ) -> None:
        self.step_seconds.update(steps)
        self.outcomes.extend(outcomes)
        self.runs.extend(runs)
        if payloads and self.sink is not None:
            self.payloads.extend(payloads)
        done = sum(1 for outcome in outcomes if outcome[STATUS] == DONE)
        in_runs = sum(run.length for run in runs)
        self.done += done + in_runs
        self.pending += len(outcomes) + in_runs
        if done < len(outcomes):
            for outcome in outcomes:
                if outcome[STATUS] == FAILED:
                    self.failed += 1
                    log.debug("%s failed: %s: %s", outcome[SEQ], outcome[ERROR_TYPE], outcome[MESSAGE])
                elif outcome[STATUS] != DONE:
                    self.skipped += 1
        self.progress.update(self.done, self.failed, self.skipped)
        if (
            self.pending >= FLUSH_ITEMS
            or len(self.payloads) >= self.commit_items
            or time.monotonic() - self.flushed >= FLUSH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        if self.sink is not None and self.payloads:
            # A slow destination: commit and record a part at a time, so a crash costs one part.
            while len(self.payloads) > self.commit_items:
                part, self.payloads = self.payloads[: self.commit_items], self.payloads[self.commit_items :]
                seqs = {seq for _, _, seq in part}
                self._unpack_runs(seqs)
                mine = [o for o in self.outcomes if o[SEQ] in seqs]
                self.outcomes = [o for o in self.outcomes if o[SEQ] not in seqs]
                self._record(self._failing(mine, self._commit(part)), [])
            refused = self._commit(self.payloads)
            if refused:
                self._unpack_runs(set(refused))
                self.outcomes = self._failing(self.outcomes, refused)
            self.payloads = []
        if self.flush_sink is not None and (self.runs or self.outcomes):
            self.flush_sink()
        self._record(self.outcomes, self.runs)
        if self.step_seconds:
            self.ledger.add_step_seconds(self.step_seconds)
            self.step_seconds = Counter()
        self.outcomes, self.runs, self.pending = [], [], 0
        self.flushed = time.monotonic()
        if self.processed is not None and self.processed.due():
            self.processed.save(self.ledger)

    def _record(self, outcomes: list[Outcome], runs: list[Run]) -> None:
        self.ledger.record(outcomes, runs)
        if self.metrics is not None:
            self.metrics.record(outcomes, runs)

    def _commit(self, payloads: list[Any]) -> dict[int, str]:
        """Write the payloads (outputs first: an item is done only once they are in); the
        seqs of the items whose outputs the sink refused, with its reason."""
        assert self.sink is not None
        refused = self.sink.commit([(item, data) for item, data, _ in payloads])
        if not refused:
            return {}
        return {seq: refused[item.id] for item, _, seq in payloads if item.id in refused}

    def _failing(self, outcomes: list[Outcome], refused: dict[int, str]) -> list[Outcome]:
        """The outcomes, with the items the sink refused failed instead of done."""
        changed = 0
        for index, outcome in enumerate(outcomes):
            reason = refused.get(outcome[SEQ])
            if reason is not None and outcome[STATUS] == DONE:
                outcomes[index] = failure(
                    outcome[SEQ], "SinkError", reason, attempts=outcome[ATTEMPTS], worker=outcome[WORKER]
                )
                changed += 1
                log.debug("%s failed: SinkError: %s", outcome[SEQ], reason)
        if changed:
            self.done -= changed
            self.failed += changed
            self.progress.update(self.done, self.failed, self.skipped)
        return outcomes

    def _unpack_runs(self, seqs: set[int]) -> None:
        """Runs holding any of ``seqs`` become single outcomes (to be split or changed)."""
        if not self.runs:
            return
        kept = []
        for run in self.runs:
            if any(seq in seqs for seq in range(run.first, run.first + run.length)):
                self.outcomes.extend(unpack(run))
            else:
                kept.append(run)
        self.runs = kept

    def close(self) -> None:
        self.flush()
        if self.processed is not None:
            self.processed.save(self.ledger)
        self.progress.close()


@contextlib.contextmanager
def _signals_stop(stop: threading.Event) -> Iterator[list[int]]:
    """SIGINT/SIGTERM ask the run to drain and stop; a second SIGINT stops it at once."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        log.warning("stopping: finishing the items in hand (Ctrl-C again to stop at once)")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _shard_of(description: str) -> str | None:
    found = re.search(r" \(shard (\d+/\d+)\)$", description)
    return found.group(1) if found else None


def _executor(name: str, opts: RunOptions) -> Executor:
    if name not in ("pool", "ray", "inline"):
        raise ConfigError(f"unknown executor {name!r}: use pool, ray or inline")
    if name != "ray" and (opts.ray_address is not None or opts.threads > 1):
        raise ConfigError("--ray-address and --threads are for --executor ray")
    if name == "inline":
        return InlineExecutor()
    settings: dict[str, Any] = {
        "batch_size": opts.batch_size,
        "timeout": opts.timeout,
        "max_items_per_worker": opts.max_items_per_worker,
    }
    if opts.workers is not None:
        settings["workers"] = opts.workers
    if name == "ray":
        if opts.start_method is not None:
            raise ConfigError("--start-method is for the local pool; Ray starts its own workers")
        return RayExecutor(address=opts.ray_address, threads=opts.threads, **settings)
    if opts.start_method is not None:
        settings["start_method"] = opts.start_method
    return PoolExecutor(**settings)
