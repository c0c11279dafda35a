"""The worker loop, written once and run by every executor."""

from __future__ import annotations

import random
import time
import traceback
from typing import Any

import orjson

from gristmill._exceptions import SkipItem, TransientError
from gristmill.executors.base import Bundle
from gristmill.ledger.base import Outcome, Status, Todo, failure
from gristmill.manifest import Item

MAX_BACKOFF = 60.0
DONE = int(Status.DONE)


class Worker:
    """Opens, processes and writes one item at a time, retrying transient failures.

    An item's failure never escapes: it comes back as an outcome carrying the error's
    type, message and traceback. ``run`` returns the outcome and, for a batched sink, the
    payload the coordinator will write (``None`` otherwise).
    """

    def __init__(self, bundle: Bundle, name: str) -> None:
        self.bundle = bundle
        self.name = name
        self._source = bundle.source
        self._processor = bundle.processor
        self._sink = bundle.sink
        self._batched = bundle.sink is not None and bundle.sink.batched

    def setup(self) -> None:
        if self._processor is not None:
            self._processor.setup()

    def run(self, todo: Todo) -> tuple[Outcome, Any]:
        seq = todo[0]
        item = Item(todo[1], todo[2], todo[3])
        started = time.time()
        clock = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                sample = self._source.open(item)
                samples = [sample] if self._processor is None else self._processor(sample)
                payload: Any = None
                outputs = None
                if self._sink is not None:
                    if self._batched:
                        payload = (item, self._sink.encode(item, samples))
                    else:
                        outputs = orjson.dumps(self._sink.write(item, samples)).decode()
                duration = time.perf_counter() - clock
                return (seq, DONE, attempt, None, None, None, outputs, started, duration, self.name), payload
            except SkipItem as exc:
                return self._failed(seq, Status.SKIPPED, attempt, exc, clock), None
            except TransientError as exc:
                if attempt > self.bundle.retries:
                    return self._failed(seq, Status.FAILED, attempt, exc, clock), None
                time.sleep(backoff(self.bundle.backoff, attempt, exc.retry_after))
            except Exception as exc:
                return self._failed(seq, Status.FAILED, attempt, exc, clock), None

    def _failed(self, seq: int, status: Status, attempt: int, exc: BaseException, clock: float) -> Outcome:
        return failure(
            seq,
            type(exc).__name__,
            str(exc) or repr(exc),
            attempts=attempt,
            status=status,
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            worker=self.name,
            duration=time.perf_counter() - clock,
        )


def backoff(base: float, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
    delay = random.uniform(0, min(MAX_BACKOFF, base * 2 ** (attempt - 1)))
    return max(delay, retry_after or 0.0)
