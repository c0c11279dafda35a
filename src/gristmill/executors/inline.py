"""Runs every item in the calling process, one after another: for tests and debugging."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from gristmill.executors.base import Bundle, Result
from gristmill.executors.worker import Worker
from gristmill.ledger.base import Todo

INLINE_BATCH = 64  # results handed to the coordinator together


class InlineExecutor:
    """Serial, same process, no pickling: breakpoints and print() work in processors.

    It cannot enforce ``timeout`` nor survive a processor that kills its process.
    """

    def __repr__(self) -> str:
        return "InlineExecutor()"

    def map(self, bundle: Bundle, todo: Iterable[Todo], stop: threading.Event) -> Iterator[list[Result]]:
        worker = Worker(bundle, "inline")
        worker.setup()
        results: list[Result] = []
        for task in todo:
            if stop.is_set():
                break
            results.append(worker.run(task))
            if len(results) >= INLINE_BATCH:
                yield results
                results = []
        if results:
            yield results
