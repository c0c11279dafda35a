"""One output file per item, mirroring the item's path: JSON, JSONL, CSV, Parquet."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from pydantic import PrivateAttr, field_validator

from gristmill._exceptions import SinkError
from gristmill._lazy import optional
from gristmill.atomic import (
    atomic_write_bytes,
    can_sync_filesystem,
    remove_stale_temporaries,
    sync_filesystem,
)
from gristmill.manifest import Item, Shard
from gristmill.samples import BaseSample
from gristmill.serialize import cell, dumps, fields_of, to_record
from gristmill.sinks.base import Sink
from gristmill.storage import Folder, Storage, is_remote
from gristmill.storage.errors import explain
from gristmill.storage.urls import parent_and_name

if TYPE_CHECKING:
    from gristmill.ledger.base import Ledger

log = logging.getLogger("gristmill")

UPLOADS = 16  # items a worker writes at once to a store: enough to hide ~50 ms per request
# The run keeps its processed manifest (gristmill.processed) at the top of the output folder,
# named this and a suffix (a shard's own too): no item's output may take such a name.
PROCESSED_STEM = "processed.manifest"


class FileSink(Sink, Storage):
    """Writes ``folder/<item id><suffix>`` whole; subclasses only say how to encode.

    ``folder`` is a local folder or a store's URL (``s3://bucket/out``, ``az://container/out``,
    ``gs://…``; see `Storage` for credentials): a local file is written under a temporary
    name and renamed, an object with one PUT of its final key, so no partial output is ever
    visible and an item written again replaces its output. ``merged``, when set, is a single
    file (or object) rebuilt after each run from every item's file in manifest order, so it
    never holds an item twice. ``keep_local``, when set, also keeps a copy of every output
    under that local folder (``--keep-local``), written first.
    """

    folder: Path | str
    merged: Path | str | None = None
    durable: bool = True
    keep_local: Path | None = None

    suffix: ClassVar[str] = ""

    _out: Folder | None = PrivateAttr(default=None)
    _flush_later: bool = PrivateAttr(default=False)
    _started: float | None = PrivateAttr(default=None)

    @field_validator("folder", "merged", mode="before")
    @classmethod
    def _local_as_path(cls, value: Any) -> Any:
        # Local folders stay Paths (as they always were); store URLs stay strings.
        if value is None or isinstance(value, Path) or is_remote(str(value)):
            return value
        return Path(value)

    @property
    def output(self) -> Folder:
        """Where the files go (made once per process)."""
        if self._out is None:
            self._out = Folder(self.folder, self, durable=self.durable and not self._flush_later)
        return self._out

    def defer_flush(self) -> None:
        # an fsync per file costs about a millisecond each; one syncfs a second costs nothing
        if self.durable and can_sync_filesystem() and not is_remote(str(self.folder)):
            self._flush_later, self._out = True, None

    def flush(self) -> None:
        if self.durable and not self.output.remote and Path(self.folder).is_dir():
            sync_filesystem(self.folder)

    def check(self) -> None:
        self._started = time.time()  # what an earlier run left is older (see finish)
        # each place is checked now, not found unwritable after all the work
        if self.keep_local is not None:
            Folder(self.keep_local, self).check(flag="--keep-local", what="the --keep-local folder")
        self.output.check()
        if self.merged is not None:
            Folder(parent_and_name(str(self.merged))[0], self).check()

    def moved_to(self, folder: Path | str) -> FileSink:
        """This sink writing under FOLDER instead (``--output``). Its merged file, unless it is
        in FOLDER already, goes beside it as ``<folder><merged's suffix>``: left where it was,
        it would be rebuilt from this run's outputs alone, over the other run's."""
        update: dict[str, Any] = {"folder": folder}
        place = str(folder).rstrip("/")
        if self.merged is not None and not str(self.merged).startswith(place + "/"):
            update["merged"] = place + "".join(PurePosixPath(str(self.merged)).suffixes)
        return self.model_copy(update=update)

    def for_shard(self, shard: Shard) -> FileSink:
        if self.merged is None:
            return self
        parent, name = parent_and_name(str(self.merged))
        named = shard.file_name(name)
        return self.model_copy(update={"merged": named if parent == "." else f"{parent}/{named}"})

    def writes_at_once(self) -> int:
        return UPLOADS if self.output.remote else 1

    def key_for(self, item_id: str) -> str:
        """The output's path relative to ``folder``, ``/``-separated."""
        key = mirrored(item_id, self.suffix)
        if key.startswith(f"{PROCESSED_STEM}.") and "/" not in key:
            raise SinkError(
                f"the item's output would be {key}, a name gristmill keeps for the run's processed "
                "manifest in the output folder; rename the item's file or move it into a folder",
                item_id=item_id,
            )
        return key

    def path_for(self, item_id: str) -> Path:
        """The output's local path (local folders only)."""
        return Path(self.folder, *self.key_for(item_id).split("/"))

    def encode_samples(self, samples: Sequence[BaseSample]) -> bytes:
        raise NotImplementedError

    def lost(self, refs: Iterable[tuple[int, str]]) -> list[int]:
        # a local folder only: one stat per output is cheap there, a request per object is not
        if self.output.remote:
            return []
        folder = Path(self.folder)
        return [
            seq
            for seq, outputs in refs
            if not all(folder.joinpath(*ref.split("/")).exists() for ref in orjson.loads(outputs))
        ]

    def write(self, item: Item, samples: Sequence[BaseSample]) -> list[str]:
        key = self.key_for(item.id)
        data = self.encode_samples(samples)
        if self.keep_local is not None:
            try:
                atomic_write_bytes(self.keep_local.joinpath(*key.split("/")), data, durable=self.durable)
            except OSError as exc:
                raise SinkError(
                    f"cannot keep a local copy in {self.keep_local}: {exc}", item_id=item.id
                ) from exc
        try:
            self.output.write(key, data)
        except Exception as exc:
            where = self.output.url(key)
            raise SinkError(explain(exc, where, "write"), item_id=item.id) from exc
        return [key]

    def forget(self, items: Sequence[Item]) -> None:
        keys = []
        for item in items:
            with contextlib.suppress(SinkError):  # an id that names no file had no output
                keys.append(self.key_for(item.id))
        try:
            self.output.delete(*keys)
            if self.keep_local is not None:
                Folder(self.keep_local, self).delete(*keys)
        except Exception as exc:
            where = self.output.url(keys[0]) if keys else self.output.location
            message = explain(exc, where, "delete") if self.output.remote else f"cannot delete {where}: {exc}"
            raise SinkError(f"the outputs of items no longer listed could not be removed: {message}") from exc

    def finish(self, ledger: Ledger) -> None:
        if self.merged is not None:
            self._merge(ledger)
        if self._started is not None:
            self._remove_stale_temporaries(self._started)

    def _remove_stale_temporaries(self, started: float) -> None:
        """Remove the temporary files that runs killed mid-write left where this sink writes
        locally (outputs, copies, the merged file); those of runs still going are kept."""
        places: list[tuple[Path | str | None, str | None]] = [(self.folder, None), (self.keep_local, None)]
        if self.merged is not None:  # a folder of other files, perhaps: only the merged file's
            places.append(parent_and_name(str(self.merged)))
        for place, of in places:
            if place is not None and not is_remote(str(place)):
                removed = remove_stale_temporaries(place, started, of=of)
                if removed:
                    log.info("removed %d temporary files left in %s by a run that was killed", removed, place)

    def _merge(self, ledger: Ledger) -> None:
        refs = (ref for _, outputs in ledger.output_refs() for ref in orjson.loads(outputs))
        data = self.merge(self.output.read_many(refs))
        parent, name = parent_and_name(str(self.merged))
        try:
            Folder(parent, self, durable=self.durable).write(name, data)
        except Exception as exc:
            raise SinkError(explain(exc, str(self.merged), "write the merged file")) from exc

    def merge(self, outputs: Iterable[bytes]) -> bytes:
        """The merged file of every item's output, in manifest order."""
        return b"".join(outputs)


class JsonFiles(FileSink):
    """``<item id>.json``: a JSON array of the item's output samples; ``merged``, one JSON
    array of every item's samples.

    ``field`` writes only that field of each sample (concatenated when it is a list), as
    ``gristmill extract`` does with ``elements``.
    """

    field: str | None = None
    indent: bool = False

    suffix: ClassVar[str] = ".json"

    def encode_samples(self, samples: Sequence[BaseSample]) -> bytes:
        if self.field is None:
            return dumps([to_record(s) for s in samples], indent=self.indent)
        values: list[Any] = []
        for sample in samples:
            value = getattr(sample, self.field)
            values.extend(value if isinstance(value, list) else [value])
        return dumps(values, indent=self.indent)

    def merge(self, outputs: Iterable[bytes]) -> bytes:
        """One JSON array of every item's samples, made from the items' arrays without
        parsing them: each one's brackets taken off, the rest joined with commas."""
        out = io.BytesIO()
        out.write(b"[")
        for data in outputs:
            inner = data.strip()[1:-1].strip()
            if inner:  # an item without samples wrote []
                out.write(b",\n" if out.tell() > 1 else b"")
                out.write(inner)
        out.write(b"]\n")
        return out.getvalue()


class JsonlFiles(FileSink):
    """``<item id>.jsonl``: one line per output sample."""

    suffix: ClassVar[str] = ".jsonl"

    def encode_samples(self, samples: Sequence[BaseSample]) -> bytes:
        return b"".join(dumps(s) + b"\n" for s in samples)


class CsvFiles(FileSink):
    """``<item id>.csv``: a header, then one row per output sample.

    ``columns`` fixes the columns and their order (other fields are left out); by default
    they are every field of the item's samples, in the order first seen, and a sample
    without one leaves its cell empty. ``merged`` has every item's rows under one header,
    the items' columns in the order first seen. Nested values are written as JSON.
    """

    columns: tuple[str, ...] | None = None

    suffix: ClassVar[str] = ".csv"

    def encode_samples(self, samples: Sequence[BaseSample]) -> bytes:
        records = [to_record(s, exclude={"processing_history"}) for s in samples]
        columns = list(self.columns or fields_of(records))
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: cell(v) for k, v in record.items()})
        return text.getvalue().encode("utf-8")

    def merge(self, outputs: Iterable[bytes]) -> bytes:
        """Every item's rows under one header: the union of the items' headers, in the order
        first seen (an item without rows, its samples dropped, adds none). Each output is
        read once and parsed only as far as needed: rows whose columns are the union's first
        ones are kept as they are, an item's in another order are rewritten in the union's,
        and rows written before a column was first seen get its empty cell at the end."""
        header: list[str] = []  # the union
        places: dict[str, int] = {}
        parts: list[tuple[bytes, int]] = []  # rows, and how many of the union's columns they have
        for data in outputs:
            lines = io.BytesIO(data)
            reader = csv.reader(line.decode("utf-8") for line in lines)  # a value may span lines
            names = next(reader, [])
            rows = data[lines.tell() :]
            if not rows:
                continue
            in_order = names[: len(header)] == header[: len(names)]
            for name in names:
                if name not in places:
                    places[name] = len(header)
                    header.append(name)
            if in_order:
                parts.append((rows if rows.endswith(b"\n") else rows + b"\n", len(names)))
                continue
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            for row in reader:
                cells = [""] * len(header)
                for name, value in zip(names, row, strict=False):
                    cells[places[name]] = value
                writer.writerow(cells)
            parts.append((text.getvalue().encode("utf-8"), len(header)))
        return _csv_table(header, parts)


def _csv_table(header: list[str], parts: Iterable[tuple[bytes, int]]) -> bytes:
    """HEADER, then PARTS' rows, each part's given the empty cells it lacks at the end."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    if header:
        writer.writerow(header)
    out = io.BytesIO()
    out.write(text.getvalue().encode("utf-8"))
    for rows, width in parts:
        if width == len(header):
            out.write(rows)
            continue
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        missing = [""] * (len(header) - width)
        writer.writerows(row + missing for row in csv.reader(io.StringIO(rows.decode("utf-8"), newline="")))
        out.write(text.getvalue().encode("utf-8"))
    return out.getvalue()


class ParquetFiles(FileSink):
    """``<item id>.parquet``: one row per output sample, its fields the columns, their types
    inferred by pyarrow (``gristmill[parquet]``). ``columns`` keeps only those, in that
    order. ``merged`` is one Parquet file of every item's rows (a column missing from some
    items is null there)."""

    columns: tuple[str, ...] | None = None

    suffix: ClassVar[str] = ".parquet"

    def check(self) -> None:
        optional("pyarrow.parquet", "parquet")  # before any work, not in every worker
        super().check()

    def encode_samples(self, samples: Sequence[BaseSample]) -> bytes:
        pa, pq = optional("pyarrow", "parquet"), optional("pyarrow.parquet", "parquet")
        records = [to_record(s, exclude={"processing_history"}) for s in samples]
        columns = fields_of(records)  # pyarrow would take the first row's alone
        try:
            table = pa.Table.from_pylist([{name: r.get(name) for name in columns} for r in records])
            if self.columns is not None:
                table = table.select(list(self.columns))
        except (pa.ArrowException, KeyError) as exc:
            raise SinkError(f"the samples do not make a Parquet table: {exc}") from exc
        out = pa.BufferOutputStream()
        pq.write_table(table, out)
        return bytes(out.getvalue())

    def merge(self, outputs: Iterable[bytes]) -> bytes:
        pa, pq = optional("pyarrow", "parquet"), optional("pyarrow.parquet", "parquet")
        tables = [pq.read_table(pa.BufferReader(data)) for data in outputs]
        out = pa.BufferOutputStream()
        if tables:
            pq.write_table(pa.concat_tables(tables, promote_options="default"), out)
        return bytes(out.getvalue())


def mirrored(item_id: str, suffix: str) -> str:
    """The relative path, ``/``-separated, of an output file named after ITEM_ID: its folders
    kept (``a/b.txt`` and ``a_b.txt`` stay apart), SUFFIX added."""
    parts = PurePosixPath(item_id).parts
    if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(item_id).is_absolute():
        raise SinkError("the item id is not a safe relative path for an output file", item_id=item_id)
    return "/".join([*parts[:-1], parts[-1] + suffix])
