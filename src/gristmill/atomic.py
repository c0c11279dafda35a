"""Write a file so that readers see either the old content or the new, never a part."""

from __future__ import annotations

import ctypes
import functools
import os
import re
import sys
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


# The temporary names atomic_write_bytes makes, ".<name>.<mkstemp's 8 characters>.gristmill.tmp":
# gristmill's own by their suffix, so that cleaning up never takes a user's ".notes.draft_v2.tmp"
SUFFIX = ".gristmill.tmp"
TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}" + re.escape(SUFFIX))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to a temporary name beside ``path``, then rename it over ``path``.

    ``durable`` flushes the data to disk before the rename, so a power cut after the
    ledger marks the item done cannot leave an empty file behind. The temporary file is
    locked until renamed: one left unlocked was left by a process that died (see
    `remove_stale_temporaries`).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:40]}.", suffix=SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.fchmod(fd, file_mode())  # mkstemp's files are private; outputs are for others to read
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
            if fcntl is not None:  # renamed before closing unlocks it (Windows renames no open file)
                os.replace(tmp, target)
        if fcntl is None:
            os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike[str], before: float, *, of: str | None = None) -> int:
    """Delete the temporary files of `atomic_write_bytes` under FOLDER that a process killed
    mid-write left: those older than BEFORE (a `time.time()`, the start of the run that
    asks) and locked by no live writer. ``of``: only those of the file of that name in
    FOLDER itself. Returns how many. Where files cannot be locked (Windows), none is
    deleted: a live writer's could not be told apart."""
    if fcntl is None or not os.path.isdir(folder):
        return 0
    removed = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            if TEMPORARY.fullmatch(name) and (of is None or name.startswith(f".{of[:40]}.")):
                removed += _remove_if_stale(os.path.join(parent, name), before)
        if of is not None:
            break
    return removed


def _remove_if_stale(path: str, before: float) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # renamed or removed meanwhile
        return False
    try:
        if os.fstat(fd).st_mtime >= before:
            return False  # written since the run began: perhaps by another run still going
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(path)
        return True
    except OSError:  # locked: a live writer's
        return False
    finally:
        os.close(fd)


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
