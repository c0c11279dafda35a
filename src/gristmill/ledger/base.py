"""The ledger protocol: one row per item, written only by the coordinator, in batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from enum import IntEnum
from typing import NamedTuple, Protocol, runtime_checkable

from gristmill.manifest import Item, ManifestInfo, PlanChanges


class Status(IntEnum):
    """Where an item stands. Stored as small integers; shown by name."""

    PENDING = 0
    DONE = 1
    FAILED = 2
    SKIPPED = 3

    def __str__(self) -> str:
        return self.name.lower()


class Outcome(NamedTuple):
    """What became of one item in one run: sent from a worker to the coordinator."""

    seq: int
    status: int
    attempts: int = 1
    error_type: str | None = None
    message: str | None = None
    traceback: str | None = None
    outputs: str | None = None
    started: float = 0.0
    duration: float = 0.0
    worker: str | None = None


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


class Todo(NamedTuple):
    """An item to process, with its place in the manifest and the attempts it already had."""

    seq: int
    item: Item
    attempts: int


@runtime_checkable
class Ledger(Protocol):
    """Stores the manifest and every item's state. Only the coordinator calls it."""

    def manifest_info(self) -> ManifestInfo | None:
        """The stored manifest, or None before the first plan."""

    def plan(self, items: Iterable[Item], *, source: str) -> PlanChanges:
        """Store the listing as the manifest; on a later call, merge a refreshed listing.

        New items are added as pending, items whose fingerprint changed go back to
        pending, and items no longer listed are removed.
        """

    def todo(self, *, reprocess: bool = False) -> Iterator[Todo]:
        """Stream the items to process in manifest order: pending and failed (all with
        ``reprocess``)."""

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write a batch of outcomes in one transaction."""

    def counts(self) -> Counts: ...

    def records(self, *, status: Status | None = None, limit: int | None = None) -> list[Record]:
        """Rows in manifest order, optionally only those with ``status``."""

    def output_refs(self) -> Iterator[tuple[int, str]]:
        """(seq, outputs) of every item that has recorded outputs."""

    def close(self) -> None: ...
