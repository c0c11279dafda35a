"""Big tables cut into slices: one item per few megabytes of a CSV, TSV or JSON Lines file, or
per row group of a Parquet file, so that a file of ten million rows runs on every worker and
resumes slice by slice."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import orjson
from pydantic import Field, PrivateAttr

from gristmill._exceptions import ProcessingError, SourceError
from gristmill._lazy import optional
from gristmill.manifest import Item
from gristmill.samples import BaseSample
from gristmill.sources.base import Source
from gristmill.sources.files import Files
from gristmill.storage import Storage, redact
from gristmill.storage.errors import explain

FORMATS = {  # a table's kind by its name's ending (gristmill import reads them too)
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
DELIMITERS = {"csv": ",", "tsv": "\t"}
Parsed = tuple[list[str], list[dict[str, Any]]]  # a slice's columns and rows
BLOCK = 1 << 22  # bytes read at a time while looking for where records end
QUOTE = ord('"')


class Rows(BaseSample):
    """A slice of a table: its rows in file order, each a dict of column → value (text for
    CSV and TSV, JSON values for JSON Lines, Python values for Parquet). ``start`` and
    ``end`` are where the slice lies in ``file`` (its path relative to the source): bytes,
    or for Parquet rows; ``id`` is ``<file>@<start>-<end>``."""

    source_uri: str = ""
    file: str
    start: int
    end: int
    columns: list[str] = Field(default_factory=list)
    rows: list[dict[str, Any]] = Field(default_factory=list)


class Tables(Source, Storage):
    """The CSV (``.csv``), TSV (``.tsv``, ``.tab``), JSON Lines (``.jsonl``, ``.ndjson``) and
    Parquet (``.parquet``, with ``gristmill[parquet]``) files under ``url`` whose path matches
    ``pattern``, each cut into slices of about ``slice_bytes`` (a Parquet file: one slice per
    row group, as it was written), one item per slice, opened as `Rows`.

    Slices start and end on record boundaries. In CSV and TSV a quoted field may hold line
    breaks, so finding them reads each file once while listing; set
    ``newlines_in_quotes=False`` when no field spans lines, and the listing reads only a
    line per slice (much faster for files in a store). A CSV/TSV file's first record is its
    header; every slice's rows use it. Text is decoded with ``encoding``, which must keep
    the newline a single byte (UTF-8, Latin-1, cp1252…; a UTF-8 byte-order mark is
    dropped). A changed file is cut again with ``--force-refresh``: its slices are redone.
    ``url``, ``pattern``, ``exclude`` and the storage settings are those of `Files`.
    """

    url: str
    pattern: str = "*"
    exclude: tuple[str, ...] = ()
    slice_bytes: int = Field(default=4 << 20, ge=1)
    newlines_in_quotes: bool = True
    encoding: str = "utf-8"

    _fs: Any = PrivateAttr(default=None)
    _root: str = PrivateAttr(default="")
    _headers: dict[str, list[str]] = PrivateAttr(default_factory=dict)  # per worker, by file

    def describe(self) -> str:
        url = redact(self.resolve(self.url).url)
        return f"Tables({url!r}, pattern={self.pattern!r}, slice_bytes={self.slice_bytes})"

    def _files(self) -> Files:
        return Files(
            url=self.url,
            pattern=self.pattern,
            exclude=self.exclude,
            storage_options=self.storage_options,
            anonymous=self.anonymous,
            endpoint_url=self.endpoint_url,
        )

    def _filesystem(self) -> tuple[Any, str]:
        if self._fs is None:
            self._fs, self._root = self.open_url(self.url)
        return self._fs, self._root

    def check(self) -> None:
        self._files().check()

    def list(self) -> Iterator[Item]:
        fs, root = self._filesystem()
        for file in self._files().list():
            kind = _kind(file.id)
            size = file.size or 0
            if kind is None or size == 0:  # opened, it says why it has no rows
                yield Item(f"{file.id}@0-{size}", size, file.fingerprint)
                continue
            if kind == "parquet":
                yield from _row_groups(fs, f"{root}/{file.id}", file)
                continue
            try:
                with fs.open(f"{root}/{file.id}", "rb") as f:
                    if kind == "jsonl" or not self.newlines_in_quotes:
                        cuts = _line_cuts(f, size, self.slice_bytes)
                    else:
                        bom = self._text_encoding(0) == "utf-8-sig"
                        cuts = _record_cuts(f, size, self.slice_bytes, DELIMITERS[kind], bom)
            except Exception as exc:
                raise SourceError(explain(exc, f"{self.url}/{file.id}", "cut into slices")) from exc
            for start, end in itertools.pairwise(cuts):
                yield Item(f"{file.id}@{start}-{end}", end - start, file.fingerprint)

    def open(self, item: Item) -> Rows:
        file, _, span = item.id.rpartition("@")
        start, end = (int(offset) for offset in span.split("-"))
        fs, root = self._filesystem()
        path = f"{root}/{file}"
        uri = str(fs.unstrip_protocol(path))
        kind = _kind(file)
        if kind is None:
            raise ProcessingError(
                "not a CSV, TSV, JSON Lines or Parquet file (by its name's ending); exclude it or rename it",
                item_id=item.id,
            )
        if kind == "parquet":
            columns, rows = _parquet_rows(fs, path, start, end, item.id)
        else:
            columns, rows = self._text_rows(fs, path, kind, start, end, item.id)
        # Built here from parsed values: validating a slice's 100,000s of them again would add
        # a third to the time it takes to read it.
        return Rows.model_construct(
            id=item.id, source_uri=uri, file=file, start=start, end=end, columns=columns, rows=rows
        )

    def _text_rows(self, fs: Any, path: str, kind: str, start: int, end: int, item_id: str) -> Parsed:
        try:
            data = fs.cat_file(path, start=start, end=end) if end > start else b""
        except Exception as exc:
            raise SourceError(explain(exc, str(fs.unstrip_protocol(path)), "read"), item_id=item_id) from exc
        text = self._decode(data, start, item_id)
        if kind == "jsonl":
            return _json_lines(text, item_id)
        delimiter = DELIMITERS[kind]
        bom = start == 0 and self._text_encoding(0) == "utf-8-sig" and data.startswith(codecs.BOM_UTF8)
        if ends_in_quotes(data, delimiter, bom) and not _at_end(fs, path, end, item_id):
            raise ProcessingError(  # csv would read the field to the slice's end: a value cut short
                f"this slice ends inside a quoted field (at byte {end:,} of the file), so a value "
                "would be cut short; if the file changed since it was listed, list it again "
                "(--force-refresh), and if its fields span lines, keep newlines_in_quotes=True",
                item_id=item_id,
            )
        allow_fields_of(len(text))
        lines = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        if start == 0:
            columns = next(lines, [])
        else:
            if path not in self._headers:  # read once per worker and file
                self._headers[path] = _first_record(fs, path, self._text_encoding(0), DELIMITERS[kind])
            columns = self._headers[path]
        if problem := repeated_names(columns):
            raise ProcessingError(problem, item_id=item_id)

        def offset(number: int) -> int:  # where record NUMBER of the slice starts in the file
            chars = _record_start(text, number + (start == 0), delimiter)
            return start + len(codecs.BOM_UTF8) * bom + len(text[:chars].encode(self.encoding))

        return columns, _records(lines, columns, item_id, offset)

    def _text_encoding(self, start: int) -> str:
        """At the file's start, UTF-8 drops a byte-order mark."""
        utf8 = self.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
        return "utf-8-sig" if utf8 and start == 0 else self.encoding

    def _decode(self, data: bytes, start: int, item_id: str) -> str:
        try:
            return data.decode(self._text_encoding(start))
        except UnicodeDecodeError as exc:
            raise ProcessingError(
                f"byte {start + exc.start:,} of the file is not {self.encoding}: {exc.reason}; "
                "give the file's encoding (Tables(encoding=...))",
                item_id=item_id,
            ) from exc


def repeated_names(header: Sequence[str]) -> str:
    """What is wrong with a header that names a column more than once ("" if nothing): a row
    read as a dict of column → value would keep only the last of them."""
    twice = sorted({name for name in header if header.count(name) > 1})
    return f"the header names {twice} more than once; give each column a name of its own" if twice else ""


def allow_fields_of(size: int) -> None:
    """Let csv read a field as large as SIZE (its default limit is 128 KiB, however large the file)."""
    csv.field_size_limit(max(csv.field_size_limit(), size))


def _kind(file_id: str) -> str | None:
    dot = file_id.rfind(".")
    return FORMATS.get(file_id[dot:].lower()) if dot > file_id.rfind("/") else None


def _first_record(fs: Any, path: str, encoding: str, delimiter: str) -> list[str]:
    """A CSV/TSV file's header, read only as far as it goes."""
    with io.TextIOWrapper(fs.open(path, "rb"), encoding=encoding, newline="") as text:
        return next(csv.reader(text, delimiter=delimiter), [])


def _row_groups(fs: Any, path: str, file: Item) -> Iterator[Item]:
    """A Parquet file's row groups as items ``<file>@<first row>-<end row>``; a file whose
    footer cannot be read is one item, whose opening says why."""
    pq = optional("pyarrow.parquet", "parquet")
    try:
        with fs.open(path, "rb") as f:
            footer = pq.ParquetFile(f).metadata
    except Exception:
        yield Item(f"{file.id}@0-0", file.size, file.fingerprint)
        return
    for group, (first, end) in enumerate(_group_spans(footer)):
        yield Item(f"{file.id}@{first}-{end}", footer.row_group(group).total_byte_size, file.fingerprint)


def _group_spans(footer: Any) -> list[tuple[int, int]]:
    """Each row group's first row and end row."""
    sizes = (footer.row_group(g).num_rows for g in range(footer.num_row_groups))
    return list(itertools.pairwise(itertools.accumulate(sizes, initial=0)))


def _parquet_rows(fs: Any, path: str, start: int, end: int, item_id: str) -> Parsed:
    """The rows of the row group that holds rows ``start`` to ``end``."""
    pq = optional("pyarrow.parquet", "parquet")
    try:
        with fs.open(path, "rb") as f:
            table = pq.ParquetFile(f)
            spans = _group_spans(table.metadata)
            if (start, end) not in spans:
                raise ProcessingError(
                    "the file's row groups changed since it was listed; refresh the manifest "
                    "(--force-refresh)",
                    item_id=item_id,
                )
            group = table.read_row_group(spans.index((start, end)))
    except ProcessingError:
        raise
    except Exception as exc:
        raise ProcessingError(
            f"not a readable Parquet file: {type(exc).__name__}: {exc}", item_id=item_id
        ) from exc
    if problem := repeated_names(group.column_names):
        raise ProcessingError(problem, item_id=item_id)
    return group.column_names, group.to_pylist()


def _line_cuts(f: IO[bytes], size: int, target: int) -> list[int]:
    """Where the slices start, then ``size``: after the first line end at or past every
    ``target`` bytes. Reads a line per slice."""
    cuts = [0]
    while cuts[-1] + target < size:
        f.seek(cuts[-1] + target - 1)  # a line ending just before the target is a cut too
        f.readline()
        if f.tell() >= size:
            break
        cuts.append(f.tell())
    return [*cuts, size]


def _record_cuts(f: IO[bytes], size: int, target: int, delimiter: str, bom: bool) -> list[int]:
    """Like `_line_cuts`, but a line end inside a quoted field is not a record's end. Reads
    the file; ``bom``: a UTF-8 byte-order mark at its start is not text."""
    return _Quotes(f, delimiter, bom).cuts(size, target)


class _Quotes:
    """Where records end in CSV/TSV bytes, with quotes read as Python's csv reader reads them
    (its default dialect): a quote opens a quoted field only at a field's start (after the
    delimiter or a line break); inside one, a doubled quote is a quote and any other quote
    ends it; anywhere else a quote is text (``12" pizza``), so counting quotes is not enough.
    Bytes are searched with ``find``: the cost is a step per quote, not per byte."""

    def __init__(self, f: IO[bytes], delimiter: str, bom: bool) -> None:
        self.f = f
        self.starts = b"\r\n" + delimiter.encode()  # after these, a quote opens a quoted field
        first = f.read(BLOCK)
        skip = len(codecs.BOM_UTF8) if bom and first.startswith(codecs.BOM_UTF8) else 0
        self.buf = b"\n" + first[skip:]  # a line start before the first field
        self.base = skip - 1  # where buf starts in the file
        self.inside = False  # in a quoted field at the end of what was read
        self.pending = False  # ... whose last byte is a quote: the next byte says which

    def cuts(self, size: int, target: int) -> list[int]:
        """After the first record end at or past every ``target`` bytes, then ``size``."""
        cuts, starts, base = [0], self.starts, self.base
        buf, pos, inside = self.buf, 1, False
        find, length, want = buf.find, len(buf), target - 1 - base  # want: a line end there or later
        quote = end = -1  # the next quote and the next line end at or past want (-1: look again)
        while True:
            if quote < pos:
                quote = find(b'"', pos)
                quote = length if quote == -1 else quote
            if inside:
                if quote + 1 < length:  # a quote, and the byte after it
                    pos, inside = (quote + 2, True) if buf[quote + 1] == QUOTE else (quote + 1, False)
                    continue
                keep = quote  # a quote at the end is read with the next byte
            else:
                if end < pos and end < length:
                    end = find(b"\n", max(pos, want))
                    end = length if end == -1 else end
                if end < quote:
                    if base + end + 1 >= size:
                        break
                    cuts.append(base + end + 1)
                    pos, want = end + 1, end + target
                    continue
                if quote < length:
                    inside, pos = buf[quote - 1] in starts, quote + 1
                    continue
                keep = length - 1  # the last byte says whether a quote after it starts a field
            block = self.f.read(BLOCK)
            self.inside, self.pending = inside, inside and keep < length
            if not block:
                break
            buf, base, want = buf[keep:] + block, base + keep, want - keep
            find, length, pos, quote, end = buf.find, len(buf), (0 if inside else 1), -1, -1
        return [*cuts, size]


def ends_in_quotes(data: bytes, delimiter: str, bom: bool) -> bool:
    """Whether CSV/TSV ``data`` ends inside a quoted field, as csv reads it."""
    scan = _Quotes(io.BytesIO(data), delimiter, bom)
    scan.cuts(len(data) + 1, len(data) + 1)
    return scan.inside and not scan.pending


def _records(
    lines: Iterator[list[str]], columns: list[str], item_id: str, offset: Callable[[int], int]
) -> list[dict[str, Any]]:
    rows = []
    for number, values in enumerate(lines, 1):
        if not values:
            continue  # a blank line
        if len(values) != len(columns):
            raise ProcessingError(
                f"the record at byte {offset(number):,} of the file (record {number} of this slice) "
                f"has {len(values)} fields where the header has {len(columns)}; fix the file or exclude it",
                item_id=item_id,
            )
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def _record_start(text: str, number: int, delimiter: str) -> int:
    """How many characters of ``text`` come before its record ``number`` (from 1, blank lines
    counted). Reads it again: only a failure asks."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for _ in itertools.islice(reader, number - 1):
        pass
    return sum(len(line) for line in itertools.islice(io.StringIO(text, newline=""), reader.line_num))


def _at_end(fs: Any, path: str, end: int, item_id: str) -> bool:
    """Whether ``end`` is the end of the file (where csv reads an unclosed quoted field to)."""
    try:
        return bool(fs.size(path) <= end)
    except Exception as exc:
        raise SourceError(explain(exc, str(fs.unstrip_protocol(path)), "read"), item_id=item_id) from exc


def _json_lines(text: str, item_id: str) -> Parsed:
    rows = []
    # Lines end at \n (\r\n too: \r is JSON whitespace) only: U+2028, U+2029 and U+0085, which
    # str.splitlines() also splits at, may stand unescaped in a JSON string.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ProcessingError(f"line {number} of this slice is not JSON: {exc}", item_id=item_id) from exc
        if not isinstance(row, dict):
            raise ProcessingError(
                f"line {number} of this slice is a JSON {type(row).__name__}, not an object", item_id=item_id
            )
        rows.append(row)
    return list(dict.fromkeys(key for row in rows for key in row)), rows
