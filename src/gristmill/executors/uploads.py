"""Writing items' outputs in a few threads, so a distant store does not serialise them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from gristmill.manifest import Item
from gristmill.samples import BaseSample

Write = Callable[[Item, Sequence[BaseSample]], list[str]]


class Uploads:
    """Runs a per-item sink's ``write`` in ``threads`` threads, at most ``2 * threads`` queued.

    The worker still reports an item only once its write has ended (see `Worker.settle`),
    so an item is never marked done before its outputs are in the store.
    """

    def __init__(self, write: Write, threads: int) -> None:
        self._write = write
        self._limit = 2 * threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="gristmill-upload")
        self._queued: deque[Future[list[str]]] = deque()

    def submit(self, item: Item, samples: Sequence[BaseSample]) -> Future[list[str]]:
        while len(self._queued) >= self._limit:  # bounded memory: wait for the oldest
            wait([self._queued.popleft()])
        future = self._pool.submit(self._write, item, samples)
        self._queued.append(future)
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=True)
