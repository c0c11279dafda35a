"""Items and the manifest: the frozen list of what a run has to do, and its shards."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from gristmill._exceptions import ConfigError


class Item(NamedTuple):
    """One unit of work and of checkpointing.

    ``id`` is stable across listings (a path relative to the source root, a row range…);
    ``fingerprint`` changes when the input changes (size + mtime, an ETag, a version).
    A tuple, because a run holds and ships many of them.
    """

    id: str
    size: int | None = None
    fingerprint: str | None = None


class ManifestInfo(NamedTuple):
    """What is known about a stored manifest."""

    items: int
    total_size: int
    source: str
    created_at: float


class PlanChanges(NamedTuple):
    """How a refreshed listing differs from the stored manifest."""

    added: int = 0
    changed: int = 0
    removed: int = 0


class Shard(NamedTuple):
    """One part of a manifest split ``of`` ways; ``number`` counts from 1, as on the
    command line (``--shard 2/3`` is ``Shard(2, of=3)``).

    An item belongs to shard ``crc32(id) % of + 1``: by its id, never by its place in
    the listing, so files added to a corpus never move an item to another shard and each
    machine of a split run keeps its own ledger.
    """

    number: int
    of: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/3"`` as a checked shard."""
        number, _, of = text.partition("/")
        try:
            shard = cls(int(number), int(of))
        except ValueError:
            raise ConfigError(f"--shard takes I/N, like 2/3; found {text!r}") from None
        return shard.checked()

    def checked(self) -> Shard:
        """This shard, if it is one of the ``of`` parts."""
        if not 1 <= self.number <= self.of:
            raise ConfigError(
                f"there is no shard {self}: give I/N with N at least 1 and I from 1 to N, like 2/3"
            )
        return self

    def __str__(self) -> str:
        return f"{self.number}/{self.of}"

    @property
    def label(self) -> str:
        """``shard-2-of-3``: the shard's name in folder and file names."""
        return f"shard-{self.number}-of-{self.of}"

    def file_name(self, name: str) -> str:
        """NAME as this shard's own file: ``all.jsonl`` becomes ``all.shard-2-of-3.jsonl``."""
        stem, dot, suffix = name.rpartition(".")
        return f"{stem}.{self.label}.{suffix}" if dot and stem else f"{name}.{self.label}"

    def holds(self, item_id: str) -> bool:
        return zlib.crc32(item_id.encode("utf-8")) % self.of == self.number - 1

    def select(self, items: Iterable[Item]) -> Iterator[Item]:
        """The items of this shard, as the listing streams by."""
        return (item for item in items if self.holds(item.id))
