"""Progress while a run goes (a bar on a terminal, a log line now and then elsewhere), and
the run's figures for OpenTelemetry."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from gristmill.ledger.base import DURATION, ERROR_TYPE, STATUS, Counts, Outcome, Run, Status

log = logging.getLogger("gristmill")

LOG_EVERY = 10.0  # seconds between progress lines when not on a terminal


class Progress(Protocol):
    def set_total(self, total: int) -> None: ...
    def update(self, done: int, failed: int, skipped: int) -> None: ...
    def close(self) -> None: ...


class NoProgress:
    def set_total(self, total: int) -> None:
        """Shows nothing."""

    def update(self, done: int, failed: int, skipped: int) -> None:
        """Shows nothing."""

    def close(self) -> None:
        """Shows nothing."""


class LogProgress:
    """One log line every ``LOG_EVERY`` seconds: for CI logs and files."""

    def __init__(self, total: int | None, every: float = LOG_EVERY, unit: str = "items") -> None:
        self.total = total
        self.unit = unit
        self.every = every
        self.start = self.last = time.monotonic()
        self.seen = (0, 0, 0)

    def set_total(self, total: int) -> None:
        self.total = total

    def update(self, done: int, failed: int, skipped: int) -> None:
        self.seen = (done, failed, skipped)
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            log.info(_line(self.total, *self.seen, time.monotonic() - self.start, self.unit))

    def close(self) -> None:
        if time.monotonic() - self.start >= self.every:
            log.info(_line(self.total, *self.seen, time.monotonic() - self.start, self.unit))


class BarProgress:
    """A rich progress bar: done, failed, items/s and time left."""

    def __init__(self, total: int | None, unit: str = "items") -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("[bold]processing" if unit == "items" else f"[bold]{unit}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.unit = unit
        self._task = self._bar.add_task(unit, total=total, failed=0, rate="")
        self._start = time.monotonic()
        self._bar.start()

    def set_total(self, total: int) -> None:
        self._bar.update(self._task, total=total)

    def update(self, done: int, failed: int, skipped: int) -> None:
        finished = done + failed + skipped
        rate = finished / max(time.monotonic() - self._start, 1e-9)
        self._bar.update(self._task, completed=finished, failed=failed, rate=f"{rate:,.0f} {self.unit}/s")

    def close(self) -> None:
        self._bar.stop()


def make_progress(total: int | None, enabled: bool | None, unit: str = "items") -> Progress:
    """A bar on a terminal, log lines otherwise; ``enabled=False`` shows nothing."""
    if enabled is False:
        return NoProgress()
    if enabled or sys.stderr.isatty():
        return BarProgress(total, unit)
    return LogProgress(total, unit=unit)


def _line(total: int | None, done: int, failed: int, skipped: int, elapsed: float, unit: str) -> str:
    finished = done + failed + skipped
    rate = finished / max(elapsed, 1e-9)
    shown = "?" if total is None else total
    line = (
        f"{finished:,}/{shown} {unit} ({done} done, {failed} failed, {skipped} skipped), {rate:,.0f} {unit}/s"
    )
    if total is not None and rate:
        line += f", about {(total - finished) / rate:,.0f} s left"
    return line


def describe_counts(counts: Counts) -> str:
    return (
        f"{counts.done} done, {counts.failed} failed, {counts.skipped} skipped, "
        f"{counts.pending} pending (of {counts.total})"
    )


class Metrics:
    """Every finished item as OpenTelemetry metrics: ``gristmill.items``, a counter, and
    ``gristmill.item.duration``, a histogram in seconds, both by pipeline, status and (for
    failures) error type. They go where the application's OpenTelemetry SDK sends them
    (``opentelemetry-instrument gristmill run …``, or a script's own set-up); without the
    opentelemetry-api package, or with no SDK, they are dropped at next to no cost."""

    def __init__(self, pipeline: str) -> None:
        self._items: Any = None
        try:
            from opentelemetry import metrics
        except ImportError:
            return
        meter = metrics.get_meter("gristmill")
        self._items = meter.create_counter("gristmill.items", unit="{item}", description="items finished")
        self._duration = meter.create_histogram(
            "gristmill.item.duration", unit="s", description="time one item took in its worker"
        )
        self._pipeline = pipeline
        self._attributes: dict[tuple[int, str | None], dict[str, str]] = {}

    def record(self, outcomes: Sequence[Outcome], runs: Sequence[Run]) -> None:
        """Count items the ledger has just recorded as finished."""
        if self._items is None:
            return
        finished: Counter[tuple[int, str | None]] = Counter()  # counted per batch, timed per item
        for outcome in outcomes:
            if outcome[STATUS] == Status.PENDING:
                continue  # sent back to be done again, not finished
            key = (outcome[STATUS], outcome[ERROR_TYPE])
            finished[key] += 1
            if outcome[DURATION] is not None:
                self._duration.record(outcome[DURATION], self._attributes_of(*key))
        done = self._attributes_of(Status.DONE, None)
        for run in runs:
            finished[Status.DONE, None] += run.length
            for seconds in array("d", run.durations):
                self._duration.record(seconds, done)
        for key, count in finished.items():
            self._items.add(count, self._attributes_of(*key))

    def _attributes_of(self, status: int, error_type: str | None) -> dict[str, str]:
        key = (status, error_type)
        if key not in self._attributes:  # made once: an SDK looks attribute sets up by value
            attributes = {
                "gristmill.pipeline": self._pipeline,
                "gristmill.status": Status(status).name.lower(),
            }
            if error_type:
                attributes["gristmill.error_type"] = error_type
            self._attributes[key] = attributes
        return self._attributes[key]


@contextlib.contextmanager
def run_span(pipeline: str, attributes: dict[str, Any]) -> Iterator[Any]:
    """An OpenTelemetry span ``gristmill.run`` around a run (None without opentelemetry-api)."""
    try:
        from opentelemetry import trace
    except ImportError:
        yield None
        return
    with trace.get_tracer("gristmill").start_as_current_span(
        "gristmill.run", attributes={"gristmill.pipeline": pipeline, **attributes}
    ) as span:
        yield span
