"""The processed manifest: which items are done, kept beside the outputs.

A run whose outputs go to a store keeps ``processed.manifest.jsonl`` there (one JSON line
per done item: id, fingerprint, output files), rewritten whole every `SYNC_SECONDS` and at
the end of the run. A run that starts with an empty state folder (another machine, a lost
disk) reads it and counts those items done, unless their input changed since, so it
continues where the last run stopped instead of starting over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, NamedTuple

import orjson

from gristmill._exceptions import ConfigError
from gristmill.ledger.base import Outcome, Status
from gristmill.sinks.files import PROCESSED_STEM, FileSink
from gristmill.storage import Folder, Storage
from gristmill.storage.errors import MISSING, explain, kind
from gristmill.storage.urls import parent_and_name

if TYPE_CHECKING:
    from gristmill.ledger.base import Ledger
    from gristmill.manifest import Shard
    from gristmill.sinks.base import Sink

log = logging.getLogger("gristmill")

PROCESSED_NAME = f"{PROCESSED_STEM}.jsonl"  # no item's output may have this name (FileSink.key_for)
SYNC_SECONDS = 30.0  # how often a run rewrites it: a machine lost redoes at most this much
WORKER = "processed manifest"  # the ledger's worker column for items it marked done
CHUNK = 10_000


class Done(NamedTuple):
    fingerprint: str | None
    outputs: str | None
    configuration: str | None  # the processors that did it (None: a manifest older than that)


class ProcessedManifest:
    """One object (or file) listing the done items; see the module's docstring."""

    def __init__(self, folder: Folder, name: str = PROCESSED_NAME, *, every: float = SYNC_SECONDS) -> None:
        self.folder = folder
        self.name = name
        self.every = every
        self.saved = time.monotonic()

    @classmethod
    def for_run(
        cls, sink: Sink | None, url: str | None, shard: Shard | None = None
    ) -> ProcessedManifest | None:
        """The one at ``url``, else beside a file sink's outputs in a store, else none.

        Each shard keeps its own (``processed.manifest.shard-2-of-3.jsonl``): machines that
        split a corpus would otherwise overwrite each other's.
        """
        storage = sink if isinstance(sink, FileSink) else Storage()
        if url:
            parent, name = parent_and_name(url)
            folder = Folder(parent, storage)
        elif isinstance(sink, FileSink) and sink.output.remote:
            folder, name = sink.output, PROCESSED_NAME
        else:
            return None
        return cls(folder, name if shard is None else shard.file_name(name))

    def __repr__(self) -> str:
        return f"ProcessedManifest({self.folder.url(self.name)!r})"

    def load(self) -> dict[str, Done]:
        """The done items it lists; none if there is no processed manifest yet."""
        try:
            data = self.folder.read(self.name)
        except Exception as exc:
            if kind(exc) == MISSING:
                return {}
            where = self.folder.url(self.name)
            raise ConfigError(explain(exc, where, "read the processed manifest")) from exc
        found: dict[str, Done] = {}
        for line in data.splitlines():
            if line.strip():
                entry = orjson.loads(line)
                outputs = entry.get("outputs")
                refs = None if outputs is None else orjson.dumps(outputs).decode()
                found[entry["id"]] = Done(entry.get("fingerprint"), refs, entry.get("configuration"))
        return found

    def apply(self, ledger: Ledger, done: dict[str, Done], configuration: str | None) -> int:
        """Mark the ledger's items that ``done`` lists, with the same fingerprint and done by
        the same processors (CONFIGURATION), done: others are to do again."""
        now = time.time()
        marked = 0
        matches: Iterator[Outcome] = (
            (seq, DONE, 0, None, None, None, done[id_].outputs, now, 0.0, WORKER)
            for seq, id_, _, fingerprint, _ in ledger.todo()
            if id_ in done
            and done[id_].fingerprint == fingerprint
            and done[id_].configuration in (None, configuration)
        )
        while chunk := list(islice(matches, CHUNK)):
            ledger.record(chunk)
            marked += len(chunk)
        return marked

    def due(self) -> bool:
        return time.monotonic() - self.saved >= self.every

    def save(self, ledger: Ledger) -> None:
        """Rewrite it whole from the ledger: one PUT, so a reader never sees half of it.

        A save never takes more than a tenth of the run: a long one spaces the next ones out.
        """
        began = time.monotonic()
        data = b"".join(_lines(ledger))
        try:
            self.folder.write(self.name, data)
        except Exception as exc:  # the run goes on; the next save may succeed
            log.warning("%s", explain(exc, self.folder.url(self.name), "save the processed manifest"))
        self.saved = time.monotonic()
        self.every = max(self.every, 10 * (self.saved - began))


DONE = int(Status.DONE)


def _lines(ledger: Ledger) -> Iterator[bytes]:
    configuration = ledger.configuration()
    for id_, fingerprint, outputs in ledger.done_items():
        refs = None if outputs is None else orjson.loads(outputs)
        entry = {"id": id_, "fingerprint": fingerprint, "outputs": refs, "configuration": configuration}
        yield orjson.dumps(entry) + b"\n"
