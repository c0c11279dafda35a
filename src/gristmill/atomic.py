"""Write a file so that readers see either the old content or the new, never a part."""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to a temporary name beside ``path``, then rename it over ``path``.

    ``durable`` flushes the data to disk before the rename, so a power cut after the
    ledger marks the item done cannot leave an empty file behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fd, file_mode())  # mkstemp's files are private; outputs are for others to read
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def file_mode() -> int:
    """The mode ``open`` gives a new file: 0o666 less the process's umask."""
    try:  # Linux says it without changing it
        status = Path("/proc/self/status").read_text()
        umask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def can_sync_filesystem() -> bool:
    return hasattr(os, "sync")


def sync_filesystem(folder: str | os.PathLike[str]) -> None:
    """Flush to disk every file written so far on the filesystem that holds ``folder``: one
    call for the outputs of many items (Linux's syncfs; elsewhere sync, every filesystem)."""
    if sys.platform.startswith("linux"):
        fd = os.open(folder, os.O_RDONLY)
        try:
            if ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()
