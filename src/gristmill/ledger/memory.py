"""A ledger held in memory: for tests, notebooks and throw-away runs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from threading import Event

from gristmill._exceptions import ConfigError
from gristmill.ledger.base import Counts, Gone, Outcome, Record, Run, Status, Todo, unpack
from gristmill.manifest import Item, ManifestInfo, PlanChanges


class MemoryLedger:
    """Keeps the manifest and item states in this process; gone when it exits."""

    def __init__(self) -> None:
        self._items: dict[int, Item] = {}
        self._rows: dict[int, list[object]] = {}  # seq -> Outcome fields after seq
        self._seq_of: dict[str, int] = {}
        self._source = ""
        self._created: float | None = None
        self._steps: Counter[str] = Counter()
        self._configuration: str | None = None

    def manifest_info(self) -> ManifestInfo | None:
        if self._created is None:
            return None
        total = sum(item.size or 0 for item in self._items.values())
        return ManifestInfo(len(self._items), total, self._source, self._created)

    def plan(self, items: Iterable[Item], *, source: str, gone: Gone | None = None) -> PlanChanges:
        listed: dict[str, Item] = {}
        for item in items:
            if item.id in listed:
                raise ConfigError(f"the source listed the item {item.id!r} twice; ids must be unique")
            listed[item.id] = item
        unlisted = sorted(seq for id_, seq in self._seq_of.items() if id_ not in listed)
        if gone is not None and unlisted:
            gone([self._items[seq] for seq in unlisted])
        for seq in unlisted:
            del self._seq_of[self._items[seq].id], self._items[seq], self._rows[seq]
        removed, changed = len(unlisted), 0
        for id_, item in list(listed.items()):
            known = self._seq_of.get(id_)
            if known is not None:
                del listed[id_]
                if self._items[known][1:] != item[1:]:
                    self._items[known] = item
                    self._rows[known][0] = int(Status.PENDING)
                    changed += 1
        added = len(self.extend(list(listed.values())))
        self.seal(source=source)
        return PlanChanges(added, changed, removed)

    def extend(self, items: Sequence[Item]) -> list[Todo]:
        todo: list[Todo] = []
        next_seq = max(self._items, default=0) + 1
        for item in items:
            if item.id in self._seq_of:
                raise ConfigError(f"the source listed the item {item.id!r} twice; ids must be unique")
            self._seq_of[item.id], self._items[next_seq], self._rows[next_seq] = next_seq, item, _blank()
            todo.append((next_seq, item.id, item.size, item.fingerprint, 0))
            next_seq += 1
        return todo

    def seal(self, *, source: str) -> None:
        self._source, self._created = source, time.time()

    def todo(self) -> Iterator[Todo]:
        wanted = {int(Status.PENDING), int(Status.FAILED)}
        for seq in sorted(self._items):
            row = self._rows[seq]
            if row[0] in wanted:
                item = self._items[seq]
                yield (seq, item.id, item.size, item.fingerprint, 0)

    def redo_all(self) -> None:
        for row in self._rows.values():
            row[0] = int(Status.PENDING)

    def record(self, outcomes: Sequence[Outcome], runs: Sequence[Run] = ()) -> None:
        for outcome in [*outcomes, *(o for run in runs for o in unpack(run))]:
            row = self._rows[outcome[0]]
            row[:] = [outcome[1], int(row[1]) + outcome[2], *outcome[3:]]  # type: ignore[call-overload]

    def counts(self) -> Counts:
        found = [0, 0, 0, 0]
        for row in self._rows.values():
            found[int(row[0])] += 1  # type: ignore[call-overload]
        return Counts(*found)

    def records(self, *, status: Status | None = None, limit: int | None = None) -> Iterator[Record]:
        rows = (
            Record(self._items[seq].id, Status(row[0]), *row[1:])  # type: ignore[arg-type]
            for seq, row in sorted(self._rows.items())
            if status is None or row[0] == Status(status)
        )
        return islice(rows, limit)

    def add_step_seconds(self, seconds: Mapping[str, float]) -> None:
        self._steps.update(seconds)

    def step_seconds(self) -> dict[str, float]:
        return dict(self._steps)

    def configuration(self) -> str | None:
        return self._configuration

    def set_configuration(self, configuration: str) -> None:
        self._configuration = configuration

    def output_refs(self) -> Iterator[tuple[int, str]]:
        for seq, row in sorted(self._rows.items()):
            if row[5] is not None:
                yield seq, str(row[5])

    def wait_for_others(self, stop: Event) -> bool:
        return False  # the run's only coordinator

    def others_at_work(self) -> bool:
        return False

    def done_items(self) -> Iterator[tuple[str, str | None, str | None]]:
        for seq, row in sorted(self._rows.items()):
            if row[0] == int(Status.DONE):
                item = self._items[seq]
                yield item.id, item.fingerprint, None if row[5] is None else str(row[5])

    def close(self) -> None:
        """Nothing to release."""


def _blank() -> list[object]:
    # status, attempts, error_type, message, traceback, outputs, started, duration, worker
    return [int(Status.PENDING), 0, None, None, None, None, None, None, None]
