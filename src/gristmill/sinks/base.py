"""The sink protocol: per-item sinks write in the worker, batched ones in the coordinator."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

from gristmill.manifest import Item, Shard
from gristmill.samples import BaseSample

if TYPE_CHECKING:
    from gristmill.ledger.base import Ledger


class Sink(BaseModel):
    """Where results go. Its fields are its configuration; it travels to every worker.

    A per-item sink (``batched = False``) writes an item's samples in the worker with
    ``write`` and returns references to what it wrote, which the ledger keeps. A batched
    sink turns the samples into a payload in the worker with ``encode``; the coordinator
    collects payloads and writes them in bulk with ``commit`` before it marks the items
    done. Either way, writing an item again replaces what it wrote before.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True)

    batched: ClassVar[bool] = False

    #: A batched sink commits at least every this many items (None: the run's own rhythm,
    #: about once a second); a slow destination keeps each commit, and so the work a
    #: crash can lose, small.
    commit_items: ClassVar[int | None] = None

    def check(self) -> None:
        """Raise `ConfigError` if the destination cannot be written; runs before any work."""

    def writes_at_once(self) -> int:
        """How many items' ``write`` may run at once, in threads (per-item sinks): more than
        1 where a write waits on a network."""
        return 1

    def write(self, item: Item, samples: Sequence[BaseSample]) -> list[str]:
        """Write one item's samples (per-item sinks); return references to the outputs."""
        raise NotImplementedError

    def encode(self, item: Item, samples: Sequence[BaseSample]) -> Any:
        """Turn one item's samples into what ``commit`` needs (batched sinks)."""
        return list(samples)

    def commit(self, batch: Sequence[tuple[Item, Any]]) -> Mapping[str, str] | None:
        """Write several items' payloads durably, replacing their earlier outputs.

        Returns the items whose outputs were refused (item id to reason; they fail, the
        rest are done), or None when all went in. A failure of the whole batch raises.
        """
        raise NotImplementedError

    def forget(self, items: Sequence[Item]) -> None:
        """Remove what ``items`` wrote: the source no longer lists them (a run with
        ``prune``). Runs in the coordinator before the ledger forgets them, so it may run
        again for the same items after a crash. A sink that cannot tell what an item wrote
        leaves it where it is."""

    def lost(self, refs: Iterable[tuple[int, str]]) -> list[int]:
        """Of the done items' (seq, outputs) that ``refs`` gives, the seqs whose outputs are
        gone, so they must be redone. Asked when a run resumes; a sink that cannot tell
        cheaply returns [] without reading ``refs``."""
        return []

    def defer_flush(self) -> None:
        """Called in each worker that shares the coordinator's machine: its writes may leave
        their data in the system's cache, since ``flush`` makes them durable."""

    def flush(self) -> None:
        """Called in the coordinator, when its workers share its machine, before it records
        items done: make what they wrote durable (one flush for many items)."""

    def finish(self, ledger: Ledger) -> None:
        """Runs once in the coordinator after the last item (merge parts, refresh an index)."""

    def for_shard(self, shard: Shard) -> Sink:
        """This sink as one shard's run uses it: what every shard would write to the same
        place (a merged file) gets the shard's name."""
        return self

    def close(self) -> None:
        """Runs in the coordinator when the run ends in any way (release connections)."""


class ListSink(Sink):
    """Keeps every item's samples in the coordinator's memory, keyed by item id.

    For tests and notebooks: ``sink.samples`` after ``Pipeline.run``.
    """

    batched: ClassVar[bool] = True

    _by_item: dict[str, list[BaseSample]] = PrivateAttr(default_factory=dict)

    def commit(self, batch: Sequence[tuple[Item, Any]]) -> None:
        for item, samples in batch:
            self._by_item[item.id] = samples

    # typed Any: the caller knows which samples its steps make (``sink.samples[0].words``)
    @property
    def by_item(self) -> dict[str, list[Any]]:
        return self._by_item

    @property
    def samples(self) -> list[Any]:
        return [s for samples in self._by_item.values() for s in samples]
