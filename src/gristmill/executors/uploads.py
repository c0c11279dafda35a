"""Writing items' outputs in a few threads, so a distant store does not serialise them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

import orjson

from gristmill.ledger.base import OUTPUTS, SEQ, Outcome
from gristmill.manifest import Item
from gristmill.samples import BaseSample

Write = Callable[[Item, Sequence[BaseSample]], list[str]]
Fail = Callable[[int, int, BaseException, float], Outcome]  # seq, attempt, error, clock -> outcome


class Uploads:
    """Runs a per-item sink's ``write`` in ``threads`` threads, at most ``2 * threads`` queued.

    An item's outcome is held back until its write has ended (`settle`), and outcomes leave
    in the order they came, so an item is never reported done before its outputs are in the
    store, and the pool still hears of items in the order it sent them.
    """

    def __init__(self, write: Write, threads: int, fail: Fail) -> None:
        self._write = write
        self._fail = fail
        self._limit = 2 * threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="gristmill-upload")
        self._queued: deque[Future[list[str]]] = deque()
        self._writing: dict[int, tuple[Future[list[str]], int, float]] = {}  # seq -> write, attempt, clock
        self._held: deque[Outcome] = deque()  # in order, from the first whose write is on

    def submit(self, seq: int, item: Item, samples: Sequence[BaseSample], attempt: int, clock: float) -> None:
        while len(self._queued) >= self._limit:  # bounded memory: wait for the oldest
            wait([self._queued.popleft()])
        future = self._pool.submit(self._write, item, samples)
        self._queued.append(future)
        self._writing[seq] = (future, attempt, clock)

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def settle(
        self, outcomes: list[Outcome], waiting: Callable[[int], None] | None = None, *, wait: bool = False
    ) -> list[Outcome]:
        """The outcomes that can be reported now, in order: up to the first whose write has
        not ended (with ``wait``, all of them); the rest are held for a later call. A failed
        write fails its item. ``waiting(seq)`` is told which item's write is being waited
        for (the pool's watchdog reads it)."""
        if not self._writing and not self._held:
            return outcomes
        self._held.extend(outcomes)
        ready: list[Outcome] = []
        while self._held:
            outcome = self._held[0]
            pending = self._writing.get(outcome[SEQ])
            if pending is not None:
                future, attempt, clock = pending
                if not future.done():
                    if not wait:
                        break
                    if waiting is not None:
                        waiting(outcome[SEQ])
                del self._writing[outcome[SEQ]]
                try:
                    refs = orjson.dumps(future.result()).decode()
                except Exception as exc:
                    outcome = self._fail(outcome[SEQ], attempt, exc, clock)
                else:
                    outcome = (*outcome[:OUTPUTS], refs, *outcome[OUTPUTS + 1 :])  # type: ignore[assignment]
            ready.append(outcome)
            self._held.popleft()
        return ready

    def close(self) -> None:
        self._pool.shutdown(wait=True)
