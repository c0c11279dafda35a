"""The source protocol: list items (metadata only), open one item in a worker."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from gristmill.manifest import Item
from gristmill.samples import BaseSample


class Source(BaseModel):
    """Where items come from. Its fields are its configuration; it travels to every worker.

    ``list`` runs once in the coordinator when the manifest is made and yields only
    metadata; ``open`` runs in a worker and turns one item into a sample.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True)

    def describe(self) -> str:
        """A short, secret-free description stored with the manifest."""
        return type(self).__name__

    def check(self) -> None:
        """Raise `ConfigError` if the source cannot be listed; runs before any work."""

    def downloads(self) -> int:
        """How many items a worker should open at once, in threads: more than 1 where
        ``open`` waits on a network; 0 (open in the worker loop) where it is cheap."""
        return 0

    def release(self, item: Item) -> None:
        """Runs in the worker once ``item`` is finished: drop what ``open`` kept for it."""

    def list(self) -> Iterator[Item]:
        raise NotImplementedError

    def listed_whole(self) -> bool:
        """Whether the listing under way (once it has yielded an item) misses nothing it
        could not read; --prune deletes nothing on a listing that does."""
        return True

    def open(self, item: Item) -> BaseSample:
        raise NotImplementedError


class Range(Source):
    """``count`` synthetic items with ids ``"0"`` … ``"count-1"``, each opened as a bare sample.

    For tests, benchmarks and pipelines whose processors generate their own data.
    """

    count: int

    def describe(self) -> str:
        return f"Range({self.count})"

    def list(self) -> Iterator[Item]:
        return map(Item, map(str, range(self.count)))

    def open(self, item: Item) -> BaseSample:
        return BaseSample(id=item.id)
