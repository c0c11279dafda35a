"""Whole files written by key under a local folder or a store's prefix."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from gristmill._exceptions import ConfigError
from gristmill.atomic import atomic_write_bytes
from gristmill.storage.location import Storage
from gristmill.storage.urls import is_remote, redact

READ_AT_ONCE = 64  # objects fetched concurrently when reading many back
PROBE = ".gristmill-write-check"


class Folder:
    """Writes each file whole, so a reader sees the old content or the new, never a part.

    A local folder writes a temporary name and renames it (flushed first when ``durable``);
    a store gets one PUT of the final key, which it makes visible whole or not at all (a
    large file goes up as a multipart upload, also visible only once complete).
    """

    def __init__(self, location: str | Path, storage: Storage, *, durable: bool = True) -> None:
        self.location = str(location)
        self.durable = durable
        self.remote = is_remote(self.location)
        self._fs: Any = None
        self._root = self.location
        if self.remote:
            self._fs, self._root = storage.open_url(self.location)

    def __repr__(self) -> str:
        return f"Folder({redact(self.location)!r})"

    def path(self, key: str) -> str:
        return f"{self._root.rstrip('/')}/{key}" if self._root else key  # a root "/": not "//key"

    def url(self, key: str) -> str:
        """Where ``key`` is, for messages."""
        return redact(f"{self.location.rstrip('/')}/{key}")

    def check(self, *, flag: str = "--output", what: str = "the output folder") -> None:
        """Raise `ConfigError` unless a file can be written here; the message names WHAT this
        folder is, and the FLAG that chooses another."""
        try:
            self.write(PROBE, b"")
        except Exception as exc:
            raise ConfigError(self._cannot_write(exc, flag, what)) from exc
        with contextlib.suppress(Exception):  # writing is what a run needs; deleting is not
            self.delete(PROBE)

    def _cannot_write(self, exc: Exception, flag: str, what: str) -> str:
        if self.remote:
            from gristmill.storage.errors import explain

            return explain(exc, self.location, "write to") + f"; or choose another {flag}"
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return (
            f"cannot write to {what} {self.location}: {reason}; make it writable or choose another with "
            + flag
        )

    def write(self, key: str, data: bytes) -> None:
        if self._fs is None:
            atomic_write_bytes(Path(self.path(key)), data, durable=self.durable)
        else:
            self._fs.pipe_file(self.path(key), data)

    def read(self, key: str) -> bytes:
        if self._fs is None:
            return Path(self.path(key)).read_bytes()
        return bytes(self._fs.cat_file(self.path(key)))

    def read_many(self, keys: Iterable[str]) -> Iterator[bytes]:
        """The files' contents in order; from a store, many requests in flight at once."""
        if self._fs is None:
            yield from map(self.read, keys)
            return
        iterator = iter(keys)
        while chunk := [self.path(key) for key in islice(iterator, READ_AT_ONCE)]:
            found = self._fs.cat(chunk, on_error="raise")
            for path in chunk:
                yield bytes(found[path])

    def delete(self, *keys: str) -> None:
        """Delete the files that exist of ``keys``; locally, also the folders that leaves empty."""
        if self._fs is not None:
            if keys:
                self._fs.rm([self.path(key) for key in keys])  # a store deletes many in one request
            return
        top = Path(self.location).resolve()
        for key in keys:
            path = Path(self.path(key))
            path.unlink(missing_ok=True)
            for parent in path.resolve().parents:
                if parent == top or top not in parent.parents:
                    break
                try:
                    parent.rmdir()
                except OSError:  # not empty (or not ours to remove): so are those above it
                    break
