"""Runs every item in the calling process, one after another: for tests and debugging."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from gristmill.executors.base import Bundle, Results
from gristmill.executors.worker import Worker
from gristmill.ledger.base import Outcome, Todo, pack

INLINE_BATCH = 64  # outcomes handed to the coordinator together


class InlineExecutor:
    """Serial, same process, no pickling: breakpoints and print() work in processors.

    It cannot enforce a timeout nor survive a processor that kills its process.
    """

    def __repr__(self) -> str:
        return "InlineExecutor()"

    def map(self, bundle: Bundle, todo: Iterable[Todo], stop: threading.Event) -> Iterator[Results]:
        worker = Worker(bundle, "inline")
        worker.setup()
        outcomes: list[Outcome] = []
        payloads: list[Any] = []
        # Items announced at once, so downloads overlap; whole units, as the processor asked.
        ahead = worker.unit_size * max(1, -(-2 * bundle.downloads // worker.unit_size))
        try:
            for chunk in _chunks(todo, ahead):
                worker.expect(chunk)
                for unit in worker.units(chunk):
                    if stop.is_set():
                        break
                    for outcome, payload in worker.run_unit(unit):
                        outcomes.append(outcome)
                        if payload is not None:
                            payloads.append(payload)
                    if len(outcomes) >= INLINE_BATCH:
                        yield *pack(worker.settle(outcomes)), payloads, worker.take_step_seconds()
                        outcomes, payloads = [], []
                if stop.is_set():
                    break
            outcomes = worker.settle(outcomes, wait=True)
        finally:
            worker.close()
        if outcomes:
            yield *pack(outcomes), payloads, worker.take_step_seconds()


def _chunks(todo: Iterable[Todo], size: int) -> Iterator[list[Todo]]:
    iterator = iter(todo)
    while chunk := list(islice(iterator, size)):
        yield chunk
