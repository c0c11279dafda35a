"""What every executor shares: the bundle shipped to workers and the executor protocol."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from gristmill.ledger.base import Outcome, Run, Todo
from gristmill.processors import Processor
from gristmill.sinks.base import Sink
from gristmill.sources.base import Source

DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 0.5  # seconds before the first retry; doubles each time, with jitter

Results = tuple[list[Outcome], list[Run], "list[Any] | None"]
"""Outcomes of some items (runs of plain successes packed, see `Run`) and, for a batched
sink, the payloads of those done, which the coordinator writes before it records them."""


@dataclass(frozen=True)
class Bundle:
    """Everything a worker needs, validated in the coordinator and shipped once per worker."""

    source: Source
    processor: Processor | None = None
    sink: Sink | None = None
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF


class Executor(Protocol):
    """Runs the worker loop over items and streams their results back."""

    def map(self, bundle: Bundle, todo: Iterable[Todo], stop: threading.Event) -> Iterator[Results]:
        """Yield results as items finish. Once ``stop`` is set, send no new work, let the
        items in hand finish (briefly), and return; items without a result stay pending."""
        ...
