"""One output file per item, mirroring the item's path: JSON, JSONL, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from gristmill._exceptions import ConfigError, SinkError
from gristmill.atomic import atomic_write_bytes
from gristmill.manifest import Item
from gristmill.samples import BaseSample
from gristmill.serialize import dumps, to_record
from gristmill.sinks.base import Sink

if TYPE_CHECKING:
    from gristmill.ledger.base import Ledger


class FileSink(Sink):
    """Writes ``folder/<item id><suffix>`` atomically; subclasses only say how to encode.

    ``merged``, when set, is a single file rebuilt after each run from every item's file in
    manifest order, so it never holds an item twice.
    """

    folder: Path
    merged: Path | None = None
    durable: bool = True

    suffix: ClassVar[str] = ""

    def check(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / ".gristmill-write-check"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"cannot write to the output folder {self.folder}: {exc.strerror or exc}; "
                "make it writable or choose another with --output"
            ) from exc

    def path_for(self, item_id: str) -> Path:
        parts = PurePosixPath(item_id).parts
        if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(item_id).is_absolute():
            raise SinkError("the item id is not a safe relative path for an output file", item_id=item_id)
        return self.folder.joinpath(*parts[:-1], parts[-1] + self.suffix)

    def encode_samples(self, samples: Sequence[BaseSample]) -> bytes:
        raise NotImplementedError

    def write(self, item: Item, samples: Sequence[BaseSample]) -> list[str]:
        path = self.path_for(item.id)
        try:
            atomic_write_bytes(path, self.encode_samples(samples), durable=self.durable)
        except OSError as exc:
            raise SinkError(f"cannot write {path}: {exc}", item_id=item.id) from exc
        return [path.relative_to(self.folder).as_posix()]

    def finish(self, ledger: Ledger) -> None:
        if self.merged is None:
            return
        out = io.BytesIO()
        for index, (_, refs) in enumerate(ledger.output_refs()):
            for ref in orjson.loads(refs):
                self.merge_into(out, (self.folder / ref).read_bytes(), first=index == 0)
        atomic_write_bytes(self.merged, out.getvalue(), durable=self.durable)

    def merge_into(self, out: io.BytesIO, data: bytes, *, first: bool) -> None:
        out.write(data)


class JsonFiles(FileSink):
    """``<item id>.json``: a JSON array of the item's output samples.

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

    def merge_into(self, out: io.BytesIO, data: bytes, *, first: bool) -> None:
        # The merged file is JSON Lines: one line per sample of every item.
        for record in orjson.loads(data):
            out.write(dumps(record) + b"\n")


class JsonlFiles(FileSink):
    """``<item id>.jsonl``: one line per output sample."""

    suffix: ClassVar[str] = ".jsonl"

    def encode_samples(self, samples: Sequence[BaseSample]) -> bytes:
        return b"".join(dumps(s) + b"\n" for s in samples)


class CsvFiles(FileSink):
    """``<item id>.csv``: a header, then one row per output sample.

    ``columns`` fixes the columns and their order; by default they are the first sample's
    fields. Nested values are written as JSON.
    """

    columns: tuple[str, ...] | None = None

    suffix: ClassVar[str] = ".csv"

    def encode_samples(self, samples: Sequence[BaseSample]) -> bytes:
        records = [to_record(s, exclude={"processing_history"}) for s in samples]
        columns = list(self.columns or (records[0] if records else ()))
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: _cell(v) for k, v in record.items()})
        return text.getvalue().encode("utf-8")

    def merge_into(self, out: io.BytesIO, data: bytes, *, first: bool) -> None:
        header, _, rows = data.partition(b"\n")
        if first:
            out.write(header + b"\n")
        out.write(rows)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return dumps(value).decode()
