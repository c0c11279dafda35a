"""Opening items ahead of the worker loop, a few at a time, so their downloads overlap."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from gristmill.manifest import Item

T = TypeVar("T")


MAX_BYTES = 256 * 2**20  # listed bytes a worker may hold ahead: the bound on its memory


class Prefetcher(Generic[T]):
    """Opens the items a worker has been sent in ``threads`` threads, in the order sent.

    At most ``threads`` items, and ``max_bytes`` of their listed sizes (but always one
    item), are being opened or opened and waiting, so the memory (and disk) a worker uses
    stays bounded by the items in flight. ``take`` hands over an item's sample, or raises the
    error its opening raised, as a direct call would; an item never announced (or asked
    for again, on a retry) is opened in the calling thread.
    """

    def __init__(self, open_item: Callable[[Item], T], threads: int, max_bytes: int = MAX_BYTES) -> None:
        self._open = open_item
        self._threads = threads
        self._max_bytes = max_bytes
        self._bytes = 0  # listed sizes of the items started and not yet taken
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="gristmill-download")
        self._lock = threading.Lock()
        self._waiting: deque[Item] = deque()  # announced, not started
        self._started: dict[str, Future[T]] = {}

    def expect(self, items: Iterable[Item]) -> None:
        """Announce items the worker will ask for, in that order (any thread)."""
        with self._lock:
            self._waiting.extend(items)
            self._start()

    def take(self, item: Item) -> T:
        with self._lock:
            future = self._started.get(item.id)
            if future is None and item in self._waiting:
                self._waiting.remove(item)  # asked for before its turn: open it here
        if future is None:
            return self._open(item)
        try:
            return future.result()
        finally:  # its room goes to the next item only once this one is out of flight
            with self._lock:
                del self._started[item.id]
                self._bytes -= item.size or 0
                self._start()

    def _start(self) -> None:
        while self._waiting and len(self._started) < self._threads:
            size = self._waiting[0].size or 0
            if self._started and self._bytes + size > self._max_bytes:
                return
            item = self._waiting.popleft()
            self._bytes += size
            self._started[item.id] = self._pool.submit(self._open, item)

    def close(self) -> None:
        with self._lock:
            self._waiting.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
