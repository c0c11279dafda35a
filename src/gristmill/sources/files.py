"""Files under a folder or URL, listed and read with fsspec."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr, field_validator

from gristmill._exceptions import ConfigError, SourceError
from gristmill.manifest import Item
from gristmill.samples import Document
from gristmill.sources.base import Source
from gristmill.sources.downloads import fetch_to, local_path
from gristmill.storage import Folder, Storage, is_remote, redact
from gristmill.storage.errors import MISSING, explain, kind
from gristmill.storage.urls import parent_and_name

log = logging.getLogger("gristmill")
CORPUS_MANIFEST = "corpus.manifest.txt"
DOWNLOADS = 16  # items a worker fetches at once from a store (see Prefetcher for the memory bound)


class Files(Source, Storage):
    """Every file under ``url`` whose relative path matches ``pattern`` and no ``exclude``.

    ``url`` is a local folder or any fsspec URL: ``s3://bucket/prefix``, ``az://container/prefix``
    (or ``abfs://``), ``gs://bucket/prefix`` with the extras ``gristmill[s3]``, ``[azure]``,
    ``[gcs]``; an Azure container SAS URL; ``memory://``. Credentials come from each
    service's standard variables and files; see `Storage` for ``anonymous``,
    ``endpoint_url`` and ``storage_options``. An item's id is its path relative to ``url``
    with ``/`` separators; its fingerprint is its size with its version, ETag or modification
    time. Patterns are shell-style and match the whole relative path; ``*`` also crosses ``/``,
    and a leading ``**/`` matches at any depth, the top included. A file over ``max_size``
    bytes fails without being read.

    ``manifest``, when set, is a file (local or in a store) of item paths relative to
    ``url``, one per line, listed instead of the store: its items have no size nor
    fingerprint. A ``corpus.manifest.txt`` at the top of ``url`` (see `write_manifest`) is
    never an item.

    ``download_dir``, when set, saves each object from a store under that folder before it
    is processed (``metadata["local_path"]`` says where, for tools that want a file); a
    file already there with the listed size is used as it is unless ``re_download``, and
    it is removed once its item is finished unless ``preserve_downloads``.
    """

    url: str
    pattern: str = "*"
    exclude: tuple[str, ...] = ()
    max_size: int | None = None  # bytes: a bigger file fails unread (--max-file-size)
    manifest: str | None = None
    download_dir: Path | None = None
    re_download: bool = False
    preserve_downloads: bool = False

    _fs: Any = PrivateAttr(default=None)
    _root: str = PrivateAttr(default="")
    _kept_out: tuple[str, ...] = PrivateAttr(default=())
    _unread: tuple[str, ...] = PrivateAttr(default=())  # folders the last listing could not read

    @field_validator("url")
    @classmethod
    def _not_empty(cls, url: str) -> str:
        if not url.strip():
            raise ValueError("the source URL is empty")
        return url

    def describe(self) -> str:
        # The resolved URL: a SAS URL's token changes, its container and prefix do not.
        described = f"Files({redact(self.resolve(self.url).url)!r}, pattern={self.pattern!r}"
        return described + (f", manifest={redact(self.manifest)!r})" if self.manifest else ")")

    def listed_whole(self) -> bool:
        return not self._unread

    def keep_out(self, folder: str | Path) -> None:
        """Never list the files under FOLDER (a local folder: the run's own outputs), not even
        through a link to it."""
        self._kept_out = (*self._kept_out, os.path.realpath(folder))

    def downloads(self) -> int:
        return DOWNLOADS if is_remote(self.url) else 0

    def _filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            self._fs, self._root = self.open_url(self.url)
        return self._fs, self._root

    def check(self) -> None:
        fs, root = self._filesystem()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # adlfs warns, then guesses, when it may not look
                is_dir = fs.isdir(root)
                if is_dir and is_remote(self.url):
                    _probe(fs, root)
                is_file = not is_dir and fs.exists(root)
        except Exception as exc:
            raise ConfigError(explain(exc, self.url, "list the source", anonymous=self.anonymous)) from exc
        if not is_dir:
            what = "is a file, not a folder" if is_file else "does not exist"
            raise ConfigError(f"the source {redact(self.url)!r} {what}; give the folder to process")

    def names_a_file(self) -> bool:
        """Whether the URL names one file rather than a folder."""
        fs, root = self._filesystem()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return not fs.isdir(root) and fs.isfile(root)
        except Exception as exc:
            raise ConfigError(explain(exc, self.url, "list the source", anonymous=self.anonymous)) from exc

    def _matches(self, rel: str) -> bool:
        def match(pattern: str) -> bool:
            if fnmatch.fnmatchcase(rel, pattern):
                return True
            return pattern.startswith("**/") and fnmatch.fnmatchcase(rel, pattern[3:])

        return match(self.pattern) and not any(match(p) for p in self.exclude)

    def list(self) -> Iterator[Item]:
        if self.manifest is not None:
            yield from self._listed_in_manifest()
            return
        fs, root = self._filesystem()
        try:
            fs.invalidate_cache(root)  # a listing is always made afresh, never from fsspec's cache
            found = fs.find(root, detail=True, withdirs=not is_remote(self.url))
        except Exception as exc:
            raise SourceError(explain(exc, self.url, "list the source", anonymous=self.anonymous)) from exc
        if not is_remote(self.url):
            self._unread = _unreadable(found)
            found = _follow_links(fs, root, found, self._kept_out)
        prefix = len(root) + 1
        for path in sorted(found):
            info = found[path]
            if info.get("type") == "directory":
                continue
            rel = path[prefix:] if root else path.lstrip("/")
            if rel != CORPUS_MANIFEST and self._matches(rel) and _utf8(rel):
                yield Item(rel, info.get("size"), _fingerprint(info))

    def _listed_in_manifest(self) -> Iterator[Item]:
        assert self.manifest is not None
        parent, name = parent_and_name(self.manifest)
        try:
            text = Folder(parent, self).read(name).decode("utf-8")
        except Exception as exc:
            raise SourceError(
                explain(exc, self.manifest, "read the manifest", anonymous=self.anonymous)
            ) from exc
        seen = set()
        for line in text.splitlines():
            rel = line.strip().lstrip("/")
            if rel and rel not in seen and self._matches(rel):
                seen.add(rel)
                yield Item(rel)

    def write_manifest(self, ids: Iterable[str], folder: Path, *, upload: bool = True) -> tuple[str, ...]:
        """Write the listing (one item path per line) as ``corpus.manifest.txt`` in ``folder``
        and, for a source in a store unless not ``upload``, at the top of ``url`` too, where
        other machines find it; returns where it went."""
        data = "".join(f"{item_id}\n" for item_id in ids).encode("utf-8")
        places = [Folder(folder, self)]
        if upload and is_remote(self.url):
            places.append(Folder(self.url, self))
        for place in places:
            try:
                place.write(CORPUS_MANIFEST, data)
            except Exception as exc:
                raise SourceError(explain(exc, place.url(CORPUS_MANIFEST), "write the manifest")) from exc
        return tuple(place.url(CORPUS_MANIFEST) for place in places)

    def uri(self, item: Item) -> str:
        fs, root = self._filesystem()
        path = f"{root}/{item.id}"
        return str(fs.unstrip_protocol(path))

    def _downloads(self) -> Path | None:
        return self.download_dir if self.download_dir is not None and is_remote(self.url) else None

    def open(self, item: Item) -> Document:
        fs, root = self._filesystem()
        if self.max_size is not None and (item.size or 0) > self.max_size:
            raise SourceError(
                f"the file is {item.size:,} bytes, over the {self.max_size:,} allowed (--max-file-size); "
                "raise the limit or exclude the file",
                item_id=item.id,
            )
        metadata: dict[str, Any] = {"filename": item.id.rsplit("/", 1)[-1]}
        folder = self._downloads()
        if not is_remote(self.url):
            _check_regular(f"{root}/{item.id}", item.id)
        try:
            if folder is None:
                content = fs.cat_file(f"{root}/{item.id}")
            else:
                saved = local_path(folder, item.id)
                content = fetch_to(fs, f"{root}/{item.id}", saved, item.size, again=self.re_download)
                metadata["local_path"] = str(saved)
        except SourceError:
            raise
        except Exception as exc:
            if kind(exc) == MISSING:
                raise SourceError(
                    "the file was listed but is gone now; list the source again (--force-refresh)",
                    item_id=item.id,
                ) from exc
            raise SourceError(
                explain(exc, self.uri(item), "read", anonymous=self.anonymous), item_id=item.id
            ) from exc
        metadata["size"] = len(content)
        return Document(id=item.id, source_uri=self.uri(item), content=content, metadata=metadata)

    def release(self, item: Item) -> None:
        folder = self._downloads()
        if folder is not None and not self.preserve_downloads:
            with contextlib.suppress(OSError, SourceError):
                local_path(folder, item.id).unlink(missing_ok=True)


def _utf8(rel: str) -> bool:
    """Whether a local file's name can be an item's id: one not in UTF-8 (Python gives its
    bytes as surrogates) cannot be recorded; it is left out, and said so."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        log.warning("left out '%s': its name is not UTF-8; rename it (convmv -f latin1 -t utf8)", shown)
        return False
    return True


def _unreadable(found: dict[str, Any]) -> tuple[str, ...]:
    """The folders in FOUND (a local listing, folders included) that could not be read, each
    warned of: fsspec leaves such a folder out as if it were empty."""
    folders = [path for path, info in found.items() if info.get("type") == "directory"]
    holding = {path.rpartition("/")[0] for path in found}
    unread = []
    for folder in folders:
        if folder in holding:
            continue
        try:
            with os.scandir(folder):
                pass
        except OSError as exc:
            log.warning(
                "left out the files of %s: %s; make it readable to process them", folder, exc.strerror
            )
            unread.append(folder)
    return tuple(unread)


def _follow_links(fs: Any, root: str, found: dict[str, Any], kept_out: tuple[str, ...]) -> dict[str, Any]:
    """FOUND (a local listing) with its links followed: a link to a file is that file; a link
    to a folder adds that folder's files under the link's path, unless the folder is, holds
    or is inside one listed already (the source, or through another link: no file is listed
    twice, no loop is walked forever) or KEPT_OUT. A dangling link stays, to fail with its
    reason."""
    walked = [os.path.realpath(root), *kept_out]
    links = [path for path, info in found.items() if info.get("islink")]
    while links:
        path = links.pop()
        try:
            info = fs.info(path)  # the link's target
        except OSError:
            continue
        if info.get("type") != "directory":
            found[path] = info
            continue
        del found[path]
        real = os.path.realpath(path)
        # inside a folder listed already, or holding one (a link to the source's parent)
        if any(os.path.commonpath((real, done)) in (real, done) for done in walked):
            continue
        walked.append(real)
        inside = fs.find(path, detail=True)
        found.update(inside)
        links += [inner for inner, info in inside.items() if info.get("islink")]
    return found


def _check_regular(path: str, item_id: str) -> None:
    """Fail, without reading, what is not a file: reading a named pipe waits forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise SourceError(
                f"a link to {os.readlink(path)!r}, which does not exist; fix or remove the link",
                item_id=item_id,
            ) from None
        return  # gone since it was listed: reading it says so
    except OSError:
        return  # reading it says why
    if not stat.S_ISREG(mode):
        what = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device"}
        raise SourceError(
            f"{what.get(stat.S_IFMT(mode), 'not a regular file')}, not read; remove it or exclude it",
            item_id=item_id,
        )


def _probe(fs: Any, root: str) -> None:
    """Ask for one object: some stores answer a folder check even to refused credentials."""
    with contextlib.suppress(FileNotFoundError):
        fs.info(f"{root}/.gristmill-probe")


def _fingerprint(info: dict[str, Any]) -> str:
    """Size plus the strongest change marker the store gives."""
    for key in (
        "version_id",
        "VersionId",
        "generation",
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
