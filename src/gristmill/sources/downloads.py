"""Saving an item's object to a local file before it is processed (``--download-dir``)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from gristmill._exceptions import SourceError


def local_path(folder: Path, item_id: str) -> Path:
    """Where ``item_id`` is saved under ``folder``, mirroring its path."""
    parts = PurePosixPath(item_id).parts
    if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(item_id).is_absolute():
        raise SourceError("the item id is not a safe relative path for a download", item_id=item_id)
    return folder.joinpath(*parts)


def fetch_to(fs: Any, remote: str, local: Path, size: int | None, *, again: bool) -> bytes:
    """The object's bytes, saved at ``local`` first (whole: under a temporary name, then
    renamed), unless a file is already there with the listed size and not ``again``."""
    if not again and local.is_file() and (size is None or local.stat().st_size == size):
        return local.read_bytes()
    local.parent.mkdir(parents=True, exist_ok=True)
    part = local.with_name(f".{local.name[:40]}.{uuid.uuid4().hex[:8]}.part")
    try:
        fs.get_file(remote, str(part))
        os.replace(part, local)
    finally:
        part.unlink(missing_ok=True)
    return local.read_bytes()
