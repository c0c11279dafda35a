"""The worker loop, written once and run by every executor."""

from __future__ import annotations

import random
import time
import traceback
from typing import Any

import orjson

from gristmill._exceptions import SkipItem, TransientError
from gristmill.executors.base import Bundle, Result
from gristmill.ledger.base import Outcome, Status, Todo

MAX_BACKOFF = 60.0


class Worker:
    """Opens, processes and writes one item at a time, retrying transient failures.

    An item's failure never escapes: it comes back as an `Outcome` carrying the error's
    type, message and traceback.
    """

    def __init__(self, bundle: Bundle, name: str) -> None:
        self.bundle = bundle
        self.name = name
        self._sink = bundle.sink
        self._batched = bundle.sink is not None and bundle.sink.batched

    def setup(self) -> None:
        if self.bundle.processor is not None:
            self.bundle.processor.setup()

    def run(self, todo: Todo) -> Result:
        seq, item, _ = todo
        started = time.time()
        clock = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                sample = self.bundle.source.open(item)
                samples = [sample] if self.bundle.processor is None else self.bundle.processor(sample)
                payload: Any = None
                outputs = None
                if self._sink is not None:
                    if self._batched:
                        payload = (item, self._sink.encode(item, samples))
                    else:
                        outputs = orjson.dumps(self._sink.write(item, samples)).decode()
                duration = time.perf_counter() - clock
                return Outcome(seq, Status.DONE, attempt, None, None, None, outputs, started, duration, self.name), payload
            except SkipItem as exc:
                return self._failed(seq, Status.SKIPPED, attempt, exc, started, clock)
            except TransientError as exc:
                if attempt > self.bundle.retries:
                    return self._failed(seq, Status.FAILED, attempt, exc, started, clock)
                time.sleep(backoff(self.bundle.backoff, attempt, exc.retry_after))
            except Exception as exc:
                return self._failed(seq, Status.FAILED, attempt, exc, started, clock)

    def _failed(
        self, seq: int, status: Status, attempt: int, exc: BaseException, started: float, clock: float
    ) -> Result:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        outcome = Outcome(
            seq, status, attempt, type(exc).__name__, str(exc) or repr(exc), tb, None,
            started, time.perf_counter() - clock, self.name,
        )
        return outcome, None


def backoff(base: float, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
    delay = random.uniform(0, min(MAX_BACKOFF, base * 2 ** (attempt - 1)))
    return max(delay, retry_after or 0.0)
