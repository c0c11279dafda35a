"""What every executor shares: the bundle shipped to workers and the executor protocol."""

from __future__ import annotations

import io
import math
import threading
import types
from collections import ChainMap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

import cloudpickle

from gristmill.ledger.base import ATTEMPTS, DURATION, SEQ, WORKER, Outcome, Run, Todo, failure
from gristmill.processors import Processor
from gristmill.sinks.base import Sink
from gristmill.sources.base import Source

DEFAULT_RETRIES = 2
ATTEMPTS_SPENT: Final = 4  # where a Todo keeps the attempts already spent on it in this run
DEFAULT_BACKOFF = 0.5  # seconds before the first retry; doubles each time, with jitter

Results = tuple[list[Outcome], list[Run], "list[Any] | None", dict[str, float]]
"""Outcomes of some items (runs of plain successes packed, see `Run`); for a batched sink,
the payloads of those done, which the coordinator writes before it records them; and the
seconds each processing step took since the worker's last results (`Compose` steps)."""


@dataclass(frozen=True)
class Bundle:
    """Everything a worker needs, validated in the coordinator and shipped once per worker."""

    source: Source
    processor: Processor | None = None
    sink: Sink | None = None
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    downloads: int = 0  # items each worker opens at once, in threads; 0 or 1: one at a time
    local: bool = False  # the workers share the coordinator's machine (see `Sink.defer_flush`)

    def imports(self) -> tuple[str, ...]:
        """Modules the workers need from the start (see `Processor.imports`)."""
        return self.processor.all_imports() if self.processor is not None else ()


class Executor(Protocol):
    """Runs the worker loop over items and streams their results back."""

    def map(self, bundle: Bundle, todo: Iterable[Todo], stop: threading.Event) -> Iterator[Results]:
        """Yield results as items finish. Once ``stop`` is set, send no new work, let the
        items in hand finish (briefly), and return; items without a result stay pending."""
        ...


class BatchSizer:
    """Sizes batches from the items' measured duration: each batch long enough to amortise
    the cost of a message (TARGET seconds of work), short enough to balance the load, and
    enough of them queued per worker that it never waits while the coordinator writes."""

    # Until an item's duration is known, one at a time: a few long items (a table's slices, big
    # PDFs) handed out four to a message would pile up on whichever worker asked first.
    FIRST, MAX = 1, 2048
    MIN_PREFETCH, MAX_PREFETCH = 2, 4
    QUEUED_SECONDS = 0.03

    def __init__(
        self, fixed: int | None, target: float, bundle: Bundle | None = None, *, minimum: int = 1
    ) -> None:
        self.fixed, self.target, self.minimum = fixed, target, minimum
        # a processor's own batch (process_batch): messages hold whole ones
        self.unit = (bundle.processor.preferred_batch() if bundle and bundle.processor else None) or 1
        self.batch_size = fixed or max(self.FIRST, self.unit, minimum)
        self.prefetch = self.MIN_PREFETCH
        self.per_item = 0.0  # running mean of an item's duration

    def observe(self, outcomes: list[Outcome], runs: list[Run], count: int) -> None:
        if self.fixed is not None or not count:
            return
        seconds = sum(outcome[DURATION] for outcome in outcomes) + sum(run.seconds for run in runs)
        mean = seconds / count
        self.per_item = mean if self.per_item == 0 else 0.8 * self.per_item + 0.2 * mean
        ideal = int(self.target / max(self.per_item, 1e-7))
        size = max(self.minimum, min(self.MAX, ideal, self.batch_size * 4))
        self.batch_size = -(-size // self.unit) * self.unit
        # Tiny items make short batches: queue more of them. Long ones: few, for balance.
        batch_seconds = self.batch_size * self.per_item
        wanted = math.ceil(self.QUEUED_SECONDS / max(batch_seconds, 1e-9))
        self.prefetch = max(self.MIN_PREFETCH, min(self.MAX_PREFETCH, wanted))


def pack_bundle(bundle: Bundle) -> bytes:
    """Pickle BUNDLE for workers with cloudpickle, steps defined in scripts included.

    cloudpickle (since 3.1.3) renames code it ships by value ``<dynamic-code>``; we keep the
    real file name, so that a failure's traceback shows the user's file and line.
    """
    buffer = io.BytesIO()
    _BundlePickler(buffer).dump(bundle)
    return buffer.getvalue()


def _reduce_code(code: types.CodeType) -> tuple[Any, tuple[Any, ...]]:
    rebuild, args = _CODE_REDUCER(code)
    return rebuild, tuple(code.co_filename if arg == "<dynamic-code>" else arg for arg in args)


_CODE_REDUCER = cloudpickle.Pickler.dispatch_table[types.CodeType]


class _BundlePickler(cloudpickle.Pickler):  # type: ignore[misc]
    dispatch_table = ChainMap({types.CodeType: _reduce_code}, cloudpickle.Pickler.dispatch_table)


def without_unpicklable(outcomes: list[Outcome], payloads: list[Any]) -> tuple[list[Outcome], list[Any]]:
    """The outcomes with the items whose payload cannot be pickled failed, and the other
    payloads: what a worker sends when the whole message would not pickle."""
    refused: dict[int, str] = {}
    kept = []
    for payload in payloads:  # (item, the sink's encoding, seq)
        try:
            cloudpickle.dumps(payload)
        except Exception as exc:
            refused[payload[2]] = (
                "its output could not be sent to the coordinator (it cannot be pickled): "
                f"{type(exc).__name__}: {exc}"
            )
        else:
            kept.append(payload)
    failed = [
        failure(o[SEQ], "ProcessingError", refused[o[SEQ]], attempts=o[ATTEMPTS], worker=o[WORKER])
        if o[SEQ] in refused
        else o
        for o in outcomes
    ]
    return failed, kept
