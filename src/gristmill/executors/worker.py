"""The worker loop, written once and run by every executor."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from gristmill import logs
from gristmill._exceptions import ConfigError, SkipItem, TransientError
from gristmill.executors.base import Bundle
from gristmill.executors.prefetch import Prefetcher
from gristmill.executors.uploads import Uploads
from gristmill.ledger.base import Outcome, Status, Todo, failure
from gristmill.manifest import Item
from gristmill.ratelimit import backoff_delay
from gristmill.samples import BaseSample
from gristmill.storage.urls import redact

MAX_BACKOFF = 60.0
DONE = int(Status.DONE)

Result = tuple[Outcome, Any]


class Worker:
    """Opens, processes and writes items, retrying transient failures.

    Items go through one at a time, or in units of the processors' ``batch_size`` when a
    step has a vectorised form. An item's failure never escapes: it comes back as an
    outcome carrying the error's type, message and traceback. Each result is the outcome
    and, for a batched sink, what the coordinator will write: (item, the sink's encoding,
    seq) (``None`` otherwise).

    A ``SystemExit`` comes from processor code (``sys.exit`` in a library) and fails its item
    like any exception. So does a ``KeyboardInterrupt`` with ``own_process``: the worker has a
    process of its own, which ignores SIGINT. In the caller's process (inline) it is the
    user's Ctrl-C: it stops the run.
    """

    def __init__(self, bundle: Bundle, name: str, *, own_process: bool = False) -> None:
        if own_process:
            logs.setup_worker()  # a processor's log lines masked, as in the coordinator
        self.bundle = bundle
        self.name = name
        self._errors: tuple[type[BaseException], ...] = (
            (Exception, KeyboardInterrupt, SystemExit) if own_process else (Exception, SystemExit)
        )
        self._source = bundle.source
        self._processor = bundle.processor
        self._sink = bundle.sink
        self._batched = bundle.sink is not None and bundle.sink.batched
        if bundle.local and bundle.sink is not None:
            bundle.sink.defer_flush()  # the coordinator flushes for all workers at once
        self.unit_size = (bundle.processor.preferred_batch() if bundle.processor else None) or 1
        self._prefetch = Prefetcher(bundle.source.open, bundle.downloads) if bundle.downloads > 1 else None
        writes = 0 if bundle.sink is None or self._batched else bundle.sink.writes_at_once()
        self._uploads = (
            Uploads(bundle.sink.write, writes, self._failed_write)
            if bundle.sink is not None and writes > 1
            else None
        )

    def expect(self, tasks: Sequence[Todo]) -> None:
        """Start opening these items, which the worker will be asked for in this order."""
        if self._prefetch is not None:
            self._prefetch.expect([Item(t[1], t[2], t[3]) for t in tasks])

    def _open(self, item: Item) -> BaseSample:
        sample = self._source.open(item) if self._prefetch is None else self._prefetch.take(item)
        if not isinstance(sample, BaseSample):  # it would reach the sink as it is
            raise TypeError(
                f"{type(self._source).__name__}.open returned {type(sample).__name__}; "
                "it must return a sample (a BaseSample)"
            )
        return sample

    def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.close()
        if self._uploads is not None:
            self._uploads.close()

    @property
    def unsettled(self) -> bool:
        """Whether outcomes are held back, waiting for their writes."""
        return self._uploads is not None and self._uploads.holding

    def settle(
        self, outcomes: list[Outcome], waiting: Callable[[int], None] | None = None, *, wait: bool = False
    ) -> list[Outcome]:
        """The outcomes that can be reported now (see `Uploads.settle`)."""
        return outcomes if self._uploads is None else self._uploads.settle(outcomes, waiting, wait=wait)

    def take_step_seconds(self) -> dict[str, float]:
        """Seconds spent in each processing step since the last call (see `Results`)."""
        return self._processor.take_step_seconds() if self._processor is not None else {}

    def setup(self) -> None:
        if self._processor is None:
            return
        try:
            self._processor.setup()
        except self._errors as exc:
            raise ConfigError(
                f"{self._processor.name}.setup() failed in worker {self.name}: {type(exc).__name__}: {exc}"
            ) from exc

    def units(self, tasks: Sequence[Todo]) -> Iterator[Sequence[Todo]]:
        """``tasks`` cut into the units ``run_unit`` takes."""
        size = self.unit_size
        if size == 1:
            yield from zip(tasks)  # one-tuples, made in C
            return
        for start in range(0, len(tasks), size):
            yield tasks[start : start + size]

    def run_unit(self, tasks: Sequence[Todo]) -> list[Result]:
        if len(tasks) == 1:
            return [self.run(tasks[0])]
        clock = time.perf_counter()
        try:
            items = [Item(t[1], t[2], t[3]) for t in tasks]
            outputs, attempts = self._with_retries(
                lambda: self._processor.call_batch([self._open(i) for i in items])  # type: ignore[union-attr]
            )
        except self._errors:  # find the bad item(s): the unit's items again, one by one
            return [self.run(task) for task in tasks]
        share = (time.perf_counter() - clock) / len(tasks)  # the unit's time, split evenly
        started = time.time() - share * len(tasks)
        results = []
        for task, item, samples in zip(tasks, items, outputs, strict=True):
            results.append(
                self._finish(task[0], item, samples, attempts, started, time.perf_counter() - share)
            )
            self._source.release(item)
        return results

    def run(self, todo: Todo) -> Result:
        seq = todo[0]
        item = Item(todo[1], todo[2], todo[3])
        started = time.time()
        clock = time.perf_counter()
        attempt = todo[4]  # attempts already spent in this run (a worker died on it)
        try:
            return self._attempts(seq, item, attempt, started, clock)
        finally:
            self._source.release(item)

    def _attempts(self, seq: int, item: Item, attempt: int, started: float, clock: float) -> Result:
        while True:
            attempt += 1
            try:
                sample = self._open(item)
                samples = [sample] if self._processor is None else self._processor(sample)
                return self._finish(seq, item, samples, attempt, started, clock)
            except SkipItem as exc:
                return self._failed(seq, Status.SKIPPED, attempt, exc, clock), None
            except TransientError as exc:
                if attempt > self.bundle.retries:
                    return self._failed(seq, Status.FAILED, attempt, exc, clock), None
                time.sleep(backoff_delay(self.bundle.backoff, attempt, exc.retry_after, MAX_BACKOFF))
            except self._errors as exc:
                return self._failed(seq, Status.FAILED, attempt, exc, clock), None

    def _finish(
        self, seq: int, item: Item, samples: list[BaseSample], attempt: int, started: float, clock: float
    ) -> Result:
        """Hand the samples to the sink; the item is done once they are written (or queued)."""
        payload: Any = None
        outputs = None
        try:
            if self._sink is not None:
                if self._batched:
                    payload = (item, self._sink.encode(item, samples), seq)
                elif self._uploads is not None:  # its outcome waits for the write in settle()
                    self._uploads.submit(seq, item, samples, attempt, clock)
                else:
                    outputs = orjson.dumps(self._sink.write(item, samples)).decode()
        except Exception as exc:
            return self._failed(seq, Status.FAILED, attempt, exc, clock), None
        duration = time.perf_counter() - clock
        return (seq, DONE, attempt, None, None, None, outputs, started, duration, self.name), payload

    def _with_retries(self, call: Any) -> tuple[Any, int]:
        """CALL's result, and the attempts it took."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(), attempt
            except TransientError as exc:
                if attempt > self.bundle.retries:
                    raise
                time.sleep(backoff_delay(self.bundle.backoff, attempt, exc.retry_after, MAX_BACKOFF))

    def _failed_write(self, seq: int, attempt: int, exc: BaseException, clock: float) -> Outcome:
        return self._failed(seq, Status.FAILED, attempt, exc, clock)

    def _failed(self, seq: int, status: Status, attempt: int, exc: BaseException, clock: float) -> Outcome:
        # A store's error may quote a signed URL: secrets never reach the ledger.
        return failure(
            seq,
            type(exc).__name__,
            redact(str(exc) or repr(exc)),
            attempts=attempt,
            status=status,
            traceback=redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))),
            worker=self.name,
            duration=time.perf_counter() - clock,
        )
