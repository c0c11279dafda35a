"""What the runs of a ledger did: where the time went and what failed, by kind of failure.

``gristmill status`` counts items; a report also says how long items took (median, 95th
percentile, the slowest), which processing step took the time, how the work spread over the
workers, and which errors failed items, with how many items each and one example: what to
look at first after a long run.
"""

from __future__ import annotations

import heapq
import math
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
    retried: int = 0  # items attempted more than once, over all runs (retries, --reprocess)
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
            out.append(f"items attempted more than once (retries, and runs again): {self.retried:,}")
        if self.errors:
            out.append("errors (see them all with: gristmill failures, and --skipped for the skipped):")
            for kind in self.errors:
                example = f"{kind.example_id}: {kind.example_message}"
                out.append(f"  {kind.error_type}: {kind.items:,} {kind.status}, e.g. {example}")
        return out


def report(*ledgers: Ledger, slowest: int = 5) -> Report:
    """The report of every run recorded in ``ledgers`` (one per shard or machine, whose
    workers are then named ``<n>:<worker>``, n counting from 1); ``slowest``: how many items
    to name. One pass over the records, in memory that does not grow with their number."""
    counts = Counts(*map(sum, zip(*(ledger.counts() for ledger in ledgers), strict=True)))
    durations = Durations()
    heaviest: list[tuple[float, str]] = []  # the slowest items so far: a min-heap
    workers: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])  # name: [items, seconds]
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
            durations.add(record.duration)
            if len(heaviest) < slowest:
                heapq.heappush(heaviest, (record.duration, record.id))
            elif slowest and record.duration > heaviest[0][0]:
                heapq.heapreplace(heaviest, (record.duration, record.id))
            tally = workers[place + (record.worker or "?")]
            tally[0] += 1
            tally[1] += record.duration
        if record.attempts > 1:
            retried += 1
        if record.status in (Status.FAILED, Status.SKIPPED):
            kind = (record.error_type or "?", record.status.name.lower())
            kinds[kind] += 1
            examples.setdefault(kind, (record.id, (record.message or "").partition("\n")[0]))
    steps: Counter[str] = Counter()
    for ledger in ledgers:
        steps.update(ledger.step_seconds())
    return Report(
        counts={**counts._asdict(), "total": counts.total},
        busy_seconds=durations.total,
        median_seconds=durations.quantile(0.5),
        p95_seconds=durations.quantile(0.95),
        slowest=[(item, seconds) for seconds, item in sorted(heaviest, reverse=True)],
        workers={name: (int(items), seconds) for name, (items, seconds) in sorted(workers.items())},
        errors=[ErrorKind(kind[0], kind[1], n, *examples[kind]) for kind, n in kinds.most_common()],
        retried=retried,
        steps=sorted(steps.items(), key=lambda pair: -pair[1]),
    )


class Durations:
    """Item durations counted in buckets 1 % wide: quantiles to within 1 %, from a few
    kilobytes whether there are a thousand durations or a billion."""

    WIDTH = math.log(1.01)
    FLOOR = 1e-6  # seconds: shorter durations share the first bucket

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf

    def add(self, seconds: float) -> None:
        self.buckets[math.floor(math.log(max(seconds, self.FLOOR)) / self.WIDTH)] += 1
        self.count += 1
        self.total += seconds
        self.low = min(self.low, seconds)
        self.high = max(self.high, seconds)

    def quantile(self, q: float) -> float | None:
        """The duration below which a share Q of them lie (its bucket's middle, kept within
        the shortest and longest seen); None when there are none."""
        if not self.count:
            return None
        rank = min(self.count - 1, int(q * self.count))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen > rank:
                return min(self.high, max(self.low, math.exp((bucket + 0.5) * self.WIDTH)))
        return self.high  # not reached: the buckets hold every duration


def _seconds(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"
