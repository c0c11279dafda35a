"""What the runs of a ledger did: where the time went and what failed, by kind of failure.

``gristmill status`` counts items; a report also says how long items took (median, 95th
percentile, the slowest), which processing step took the time, how the work spread over the
workers, and which errors failed items, with how many items each and one example: what to
look at first after a long run.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from gristmill.ledger.base import Counts, Ledger, Status


@dataclass(frozen=True)
class ErrorKind:
    """The items that failed (or were skipped) with one error type."""

    error_type: str
    status: str  # "failed" or "skipped"
    items: int
    example_id: str
    example_message: str


@dataclass(frozen=True)
class Report:
    counts: dict[str, int]
    busy_seconds: float  # the time items took, all workers together
    median_seconds: float | None
    p95_seconds: float | None
    slowest: list[tuple[str, float]] = field(default_factory=list)  # (item, seconds), slowest first
    workers: dict[str, tuple[int, float]] = field(default_factory=dict)  # name: (items, busy seconds)
    errors: list[ErrorKind] = field(default_factory=list)  # most items first
    retried: int = 0  # items that took more than one attempt
    steps: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds), slowest first

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The report as a person reads it."""
        counts = Counts(**{k: v for k, v in self.counts.items() if k != "total"})
        out = [
            f"items: {counts.total:,}: {counts.done:,} done, {counts.failed:,} failed, "
            f"{counts.skipped:,} skipped, {counts.pending:,} pending"
        ]
        if self.median_seconds is None or self.p95_seconds is None:
            return [*out, "no item has run yet"]
        out.append(
            f"time per item: median {_seconds(self.median_seconds)}, 95th percentile "
            f"{_seconds(self.p95_seconds)}, {self.busy_seconds:,.1f} s in all"
        )
        if self.steps:
            spent = sum(seconds for _, seconds in self.steps) or 1.0
            shares = ", ".join(
                f"{step} {seconds:,.1f} s ({seconds / spent:.0%})" for step, seconds in self.steps
            )
            out.append(f"time per step: {shares}")
        out.append("slowest items:")
        out += [f"  {_seconds(seconds):>9}  {item}" for item, seconds in self.slowest]
        out.append("workers:")
        out += [
            f"  {name}: {items:,} items, {busy:,.1f} s busy" for name, (items, busy) in self.workers.items()
        ]
        if self.retried:
            out.append(f"items that took more than one attempt: {self.retried:,}")
        if self.errors:
            out.append("errors (see them all with: gristmill failures):")
            for kind in self.errors:
                example = f"{kind.example_id}: {kind.example_message}"
                out.append(f"  {kind.error_type}: {kind.items:,} {kind.status}, e.g. {example}")
        return out


def report(*ledgers: Ledger, slowest: int = 5) -> Report:
    """The report of every run recorded in ``ledgers`` (one per shard or machine, whose
    workers are then named ``<n>:<worker>``, n counting from 1); ``slowest``: how many items
    to name."""
    counts = Counts(*map(sum, zip(*(ledger.counts() for ledger in ledgers), strict=True)))
    timed: list[tuple[str, float]] = []
    workers: dict[str, list[float]] = defaultdict(list)
    kinds: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], tuple[str, str]] = {}
    retried = 0
    records = (
        (f"{number}:" if len(ledgers) > 1 else "", record)
        for number, ledger in enumerate(ledgers, 1)
        for record in ledger.records()
    )
    for place, record in records:
        if record.duration is not None and record.status != Status.PENDING:
            timed.append((record.id, record.duration))
            workers[place + (record.worker or "?")].append(record.duration)
        if record.attempts > 1:
            retried += 1
        if record.status in (Status.FAILED, Status.SKIPPED):
            kind = (record.error_type or "?", record.status.name.lower())
            kinds[kind] += 1
            examples.setdefault(kind, (record.id, (record.message or "").partition("\n")[0]))
    steps: Counter[str] = Counter()
    for ledger in ledgers:
        steps.update(ledger.step_seconds())
    durations = sorted(seconds for _, seconds in timed)
    return Report(
        counts={**counts._asdict(), "total": counts.total},
        busy_seconds=sum(durations),
        median_seconds=statistics.median(durations) if durations else None,
        p95_seconds=durations[min(len(durations) - 1, int(0.95 * len(durations)))] if durations else None,
        slowest=sorted(timed, key=lambda pair: -pair[1])[:slowest],
        workers={name: (len(times), sum(times)) for name, times in sorted(workers.items())},
        errors=[ErrorKind(kind[0], kind[1], n, *examples[kind]) for kind, n in kinds.most_common()],
        retried=retried,
        steps=sorted(steps.items(), key=lambda pair: -pair[1]),
    )


def _seconds(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"
