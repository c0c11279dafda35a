"""Files under a folder or URL, listed and read with fsspec."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import PrivateAttr, field_validator

from gristmill._exceptions import ConfigError, SourceError
from gristmill.manifest import Item
from gristmill.samples import Document
from gristmill.sources.base import Source


class Files(Source):
    """Every file under ``url`` whose relative path matches ``pattern`` and no ``exclude``.

    ``url`` is a local folder or any fsspec URL (``memory://``, and the cloud stores whose
    extras are installed). An item's id is its path relative to ``url`` with ``/``
    separators; its fingerprint is its size with its ETag, version or modification time.
    Patterns are shell-style and match the whole relative path; ``*`` also crosses ``/``,
    and a leading ``**/`` matches at any depth, the top included. A file over ``max_size``
    bytes fails without being read.
    """

    url: str
    pattern: str = "*"
    exclude: tuple[str, ...] = ()
    storage_options: dict[str, Any] = {}
    max_size: int | None = None  # bytes: a bigger file fails unread (--max-file-size)

    _fs: Any = PrivateAttr(default=None)
    _root: str = PrivateAttr(default="")

    @field_validator("url")
    @classmethod
    def _not_empty(cls, url: str) -> str:
        if not url.strip():
            raise ValueError("the source URL is empty")
        return url

    def describe(self) -> str:
        return f"Files({self.url!r}, pattern={self.pattern!r})"

    def _filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            from fsspec.core import url_to_fs

            try:
                fs, root = url_to_fs(self.url, **self.storage_options)
            except (ImportError, ValueError) as exc:
                raise ConfigError(f"cannot open the source {self.url!r}: {exc}") from exc
            self._fs, self._root = fs, root.rstrip("/")
        return self._fs, self._root

    def check(self) -> None:
        fs, root = self._filesystem()
        try:
            is_dir = fs.isdir(root)
        except Exception as exc:
            raise ConfigError(f"cannot reach the source {self.url!r}: {exc}") from exc
        if not is_dir:
            what = "is a file, not a folder" if fs.exists(root) else "does not exist"
            raise ConfigError(f"the source {self.url!r} {what}; give the folder to process")

    def _matches(self, rel: str) -> bool:
        def match(pattern: str) -> bool:
            if fnmatch.fnmatchcase(rel, pattern):
                return True
            return pattern.startswith("**/") and fnmatch.fnmatchcase(rel, pattern[3:])

        return match(self.pattern) and not any(match(p) for p in self.exclude)

    def list(self) -> Iterator[Item]:
        fs, root = self._filesystem()
        try:
            found = fs.find(root, detail=True)
        except Exception as exc:
            raise SourceError(f"cannot list the source {self.url!r}: {exc}") from exc
        prefix = len(root) + 1
        for path in sorted(found):
            info = found[path]
            if info.get("type") == "directory":
                continue
            rel = path[prefix:] if root else path.lstrip("/")
            if self._matches(rel):
                yield Item(rel, info.get("size"), _fingerprint(info))

    def uri(self, item: Item) -> str:
        fs, root = self._filesystem()
        path = f"{root}/{item.id}"
        return str(fs.unstrip_protocol(path))

    def open(self, item: Item) -> Document:
        fs, root = self._filesystem()
        if self.max_size is not None and (item.size or 0) > self.max_size:
            raise SourceError(
                f"the file is {item.size:,} bytes, over the {self.max_size:,} allowed (--max-file-size); "
                "raise the limit or exclude the file",
                item_id=item.id,
            )
        try:
            content = fs.cat_file(f"{root}/{item.id}")
        except FileNotFoundError as exc:
            raise SourceError(
                "the file was listed but is gone now; refresh the manifest "
                "(gristmill manifest generate --force-refresh)",
                item_id=item.id,
            ) from exc
        except OSError as exc:
            raise SourceError(f"cannot read the file: {exc}", item_id=item.id) from exc
        return Document(
            id=item.id,
            source_uri=self.uri(item),
            content=content,
            metadata={"filename": item.id.rsplit("/", 1)[-1], "size": len(content)},
        )


def _fingerprint(info: dict[str, Any]) -> str:
    """Size plus the strongest change marker the store gives."""
    for key in (
        "version_id",
        "VersionId",
        "ETag",
        "etag",
        "mtime",
        "LastModified",
        "last_modified",
        "created",
    ):
        marker = info.get(key)
        if marker is not None:
            if isinstance(marker, datetime):
                marker = marker.isoformat()
            return f"{info.get('size')}:{marker}"
    return str(info.get("size"))
