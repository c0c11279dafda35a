"""The ledger protocol: one row per item, written only by the coordinator, in batches."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import IntEnum
from threading import Event
from typing import Final, NamedTuple, Protocol, runtime_checkable

from gristmill.manifest import Item, ManifestInfo, PlanChanges


class Status(IntEnum):
    """Where an item stands. Stored as small integers; shown by name."""

    PENDING = 0
    DONE = 1
    FAILED = 2
    SKIPPED = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        """A status by its name too: ``Status("failed")``."""
        return cls.__members__.get(value.upper()) if isinstance(value, str) else None


# Items and outcomes cross process boundaries by the hundred thousand, so they are plain
# tuples (cheapest to pickle and to bind in SQL); the index names below say what is where.

Gone = Callable[[Sequence[Item]], None]
"""Told of the items a refreshed listing no longer has (`Ledger.plan`), to remove their outputs."""

Todo = tuple[int, str, "int | None", "str | None", int]
"""An item to process: (seq, id, size, fingerprint, attempts already spent on it in this
run). ``seq`` is its place in the manifest."""

Outcome = tuple[
    int, int, int, "str | None", "str | None", "str | None", "str | None", float, float, "str | None"
]
"""What became of one item: (seq, status, attempts, error type, message, traceback,
outputs as JSON, started (epoch s), duration (s), worker)."""

SEQ: Final = 0
STATUS: Final = 1
ATTEMPTS: Final = 2
ERROR_TYPE: Final = 3
MESSAGE: Final = 4
TRACEBACK: Final = 5
OUTPUTS: Final = 6
STARTED: Final = 7
DURATION: Final = 8
WORKER: Final = 9


class Run(NamedTuple):
    """Consecutive items (by seq) done at their first attempt with no outputs to note.

    Workers send these instead of one outcome per item, and the ledger records each as
    one range update: on cheap items this is most of what checkpointing costs.
    ``durations`` packs one float64 per item (``array("d")``); ``seconds`` is their sum.
    """

    first: int
    length: int
    started: float
    durations: bytes
    seconds: float
    worker: str | None


MIN_RUN = 16  # shorter stretches are not worth a run of their own


def pack(outcomes: Sequence[Outcome]) -> tuple[list[Outcome], list[Run]]:
    """Split outcomes into those to record one by one and runs of plain successes."""
    singles: list[Outcome] = []
    runs: list[Run] = []
    done = int(Status.DONE)
    start, count = 0, len(outcomes)
    while start < count:
        head = outcomes[start]
        end = start
        if head[STATUS] == done and head[ATTEMPTS] == 1 and head[OUTPUTS] is None:
            while end + 1 < count:
                nxt = outcomes[end + 1]
                if (
                    nxt[SEQ] != outcomes[end][SEQ] + 1
                    or nxt[STATUS] != done
                    or nxt[ATTEMPTS] != 1
                    or nxt[OUTPUTS] is not None
                ):
                    break
                end += 1
        if end + 1 - start >= MIN_RUN:
            durations = array("d", [o[DURATION] for o in outcomes[start : end + 1]])
            runs.append(
                Run(
                    head[SEQ],
                    end + 1 - start,
                    head[STARTED],
                    durations.tobytes(),
                    sum(durations),
                    head[WORKER],
                )
            )
        else:
            singles.extend(outcomes[start : end + 1])
        start = end + 1
    return singles, runs


def unpack(run: Run) -> list[Outcome]:
    """A run as the outcomes it stands for (for ledgers without a range update)."""
    durations = array("d", run.durations)
    started = run.started
    outcomes: list[Outcome] = []
    for offset, duration in enumerate(durations):
        outcomes.append(
            (run.first + offset, int(Status.DONE), 1, None, None, None, None, started, duration, run.worker)
        )
        started += duration
    return outcomes


def failure(
    seq: int,
    error_type: str,
    message: str,
    *,
    attempts: int = 1,
    traceback: str | None = None,
    status: Status = Status.FAILED,
    worker: str | None = None,
    duration: float = 0.0,
) -> Outcome:
    """The outcome of an item that did not get done."""
    import time

    return (
        seq,
        int(status),
        attempts,
        error_type,
        message,
        traceback,
        None,
        time.time() - duration,
        duration,
        worker,
    )


class Counts(NamedTuple):
    """How many items are in each state; they always add up to the manifest."""

    pending: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.done + self.failed + self.skipped


class Record(NamedTuple):
    """One item's row, as ``gristmill failures`` and ``status`` show it."""

    id: str
    status: Status
    attempts: int
    error_type: str | None
    message: str | None
    traceback: str | None
    outputs: str | None
    started: float | None
    duration: float | None
    worker: str | None


@runtime_checkable
class Ledger(Protocol):
    """Stores the manifest and every item's state. Only the coordinator calls it."""

    def manifest_info(self) -> ManifestInfo | None:
        """The stored manifest, or None before the first plan."""

    def plan(self, items: Iterable[Item], *, source: str, gone: Gone | None = None) -> PlanChanges:
        """Store the listing as the manifest; on a later call, merge a refreshed listing.

        New items are added as pending, items whose fingerprint changed go back to
        pending, and items no longer listed are removed: handed to ``gone`` first (a page at
        a time), so that their outputs go before the ledger forgets them, and a crash in
        between leaves them to be handed again.
        """

    def extend(self, items: Sequence[Item]) -> list[Todo]:
        """Append items to a manifest being made (the first run streams its listing this
        way, processing while it lists); returns them as todo."""

    def seal(self, *, source: str) -> None:
        """Mark the manifest complete: later runs use it as it is."""

    def todo(self) -> Iterator[Todo]:
        """Stream the items to process in manifest order: pending and failed."""

    def redo_all(self) -> None:
        """Every item back to pending (``--reprocess``): kept, so that a run interrupted
        while redoing carries on, without ``--reprocess``, with what it had not redone."""

    def record(self, outcomes: Sequence[Outcome], runs: Sequence[Run] = ()) -> None:
        """Write a batch of outcomes in one transaction."""

    def counts(self) -> Counts: ...

    def records(self, *, status: Status | None = None, limit: int | None = None) -> Iterator[Record]:
        """Rows in manifest order, optionally only those with ``status``, streamed: a report
        over ten million items holds one at a time."""

    def output_refs(self) -> Iterator[tuple[int, str]]:
        """(seq, outputs) of every item that has recorded outputs."""

    def add_step_seconds(self, seconds: Mapping[str, float]) -> None:
        """Add to the time each processing step has taken, all runs together."""

    def step_seconds(self) -> dict[str, float]:
        """The time each processing step has taken, by step name (``gristmill report``)."""

    def configuration(self) -> str | None:
        """The processors (names and configuration hash) that did the items, as last set;
        None before any run set it."""

    def set_configuration(self, configuration: str) -> None: ...

    def wait_for_others(self, stop: Event) -> bool:
        """After a round of ``todo``: wait while other coordinators sharing the run hold
        items; True when some became this one's to take (a claim expired), False when
        nothing is left to wait for. A ledger of one coordinator returns False at once."""

    def others_at_work(self) -> bool:
        """Whether other coordinators hold live claims on the run's items (a shared ledger)."""

    def done_items(self) -> Iterator[tuple[str, str | None, str | None]]:
        """(id, fingerprint, outputs) of every done item, in manifest order."""

    def close(self) -> None: ...
