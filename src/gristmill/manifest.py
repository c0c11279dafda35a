"""Items and the manifest: the frozen list of what a run has to do."""

from __future__ import annotations

from typing import NamedTuple


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
