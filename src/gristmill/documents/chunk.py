"""``Chunk``: elements gathered into chunks of bounded size, for search indexes and models."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import Field, model_validator

from gristmill._exceptions import ProcessingError
from gristmill.processors import Processor
from gristmill.samples import Document, Element

SEPARATOR = "\n\n"
# metadata a chunk takes from its first element
KEPT = ("filename", "file_directory", "filetype", "page_number", "languages")
# each piece of a split element carries a copy of it in orig_elements only while those
# copies hold at most this much text and HTML in all. unstructured bounds the element
# instead (1M characters), which made 390 MB of chunks of an 880 KB log file, 447 times it
SPLIT_COPIES_MAX_CHARS = 1_000_000
LAST_WORD_END = re.compile(r".*\S(?=\s)", re.DOTALL)  # greedy: where long text is cut
NON_SPACE = re.compile(r"\S")
ROW = re.compile(r"<tr>.*?</tr>", re.DOTALL)


class Piece(NamedTuple):
    """A chunk before it has its id: the elements it was made from and what it carries."""

    sources: list[Element]
    text: str
    orig_elements: str | None
    kind: str = "CompositeElement"
    html: str | None = None


class Chunk(Processor):
    """Gathers a document's elements into chunks of at most ``max_characters``.

    ``basic`` fills each chunk with whole elements; ``by_title`` also starts a new one at
    every title, so a chunk never spans two sections. A chunk is closed once it reaches
    ``new_after_n_chars`` (a soft limit, default: the hard one). A table stays alone in its
    chunk; a bigger one is split between rows into ``TableChunk``s, each with the HTML of
    its rows where the table's HTML has one ``<tr>`` per row. Text longer than the limit (an
    element, or one table row) is cut at the last whitespace before it, mid-word only where
    there is none, and each piece after the first starts with the last ``overlap``
    characters of the one before. ``metadata["orig_elements"]`` holds the elements a chunk
    was made from as unstructured writes them (see ``encode_elements``); the pieces of a
    split element each hold it, unless those copies would exceed ``SPLIT_COPIES_MAX_CHARS``.
    """

    version: ClassVar[str] = "2"  # orig_elements encoded, tables split between rows

    strategy: Literal["basic", "by_title"] = "basic"
    max_characters: int = Field(default=500, ge=1)
    new_after_n_chars: int | None = Field(default=None, ge=1)
    overlap: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _limits_agree(self) -> Chunk:
        if self.overlap >= self.max_characters:
            raise ValueError("overlap must be smaller than max_characters")
        return self

    def process(self, sample: Any) -> Document:
        if not isinstance(sample, Document):
            raise ProcessingError("Chunk needs a Document with elements (run Partition first)")
        chunks = [self._element(index, piece) for index, piece in enumerate(self._pieces(sample.elements))]
        return sample.model_copy(update={"elements": chunks})

    def _element(self, index: int, piece: Piece) -> Element:
        metadata = {k: v for k, v in piece.sources[0].metadata.items() if k in KEPT}
        if piece.html is not None:
            metadata["text_as_html"] = piece.html
        if piece.orig_elements is not None:
            metadata["orig_elements"] = piece.orig_elements
        # the sequence number keeps the pieces of one element apart
        key = f"{index}\0{[e.element_id for e in piece.sources]}\0{piece.text}"
        element_id = hashlib.sha256(key.encode()).hexdigest()[:32]
        return Element(type=piece.kind, element_id=element_id, text=piece.text, metadata=metadata)

    def _pieces(self, elements: list[Element]) -> Iterator[Piece]:
        soft = min(self.new_after_n_chars or self.max_characters, self.max_characters)
        held: list[Element] = []
        size = 0
        for element in elements:
            if element.type in ("PageBreak",) or not element.text:
                continue
            starts_section = self.strategy == "by_title" and element.type == "Title"
            fits = size + len(SEPARATOR) + len(element.text) <= self.max_characters
            if held and (element.type == "Table" or starts_section or not fits or size >= soft):
                yield _gathered(held)
                held, size = [], 0
            if element.type == "Table" or len(element.text) > self.max_characters:
                yield from self._alone(element)
                continue
            held.append(element)
            size += (len(SEPARATOR) if size else 0) + len(element.text)
        if held:
            yield _gathered(held)

    def _alone(self, element: Element) -> Iterator[Piece]:
        """A table, or an element too long for one chunk, in chunks of its own."""
        html = element.metadata.get("text_as_html")
        if len(element.text) <= self.max_characters:  # a table that fits
            yield Piece([element], element.text, encode_elements([element]), "Table", html)
            return
        if element.type == "Table":
            pieces = list(self._table_pieces(element, html))
        else:
            pieces = [Piece([element], text, None) for text in self._cut(element.text)]
        copies = (len(element.text) + len(html or "")) * len(pieces)
        orig = encode_elements([element]) if copies <= SPLIT_COPIES_MAX_CHARS else None
        for piece in pieces:
            yield piece._replace(orig_elements=orig)

    def _table_pieces(self, table: Element, html: str | None) -> Iterator[Piece]:
        """A table split between rows, with the HTML of those rows where it has one ``<tr>``
        per row; a row too long alone is cut as text."""
        rows = table.text.split("\n")
        row_html = _html_rows(html, len(rows))
        for first, last in self._row_groups(rows):
            if first == last:
                for text in self._cut(rows[first]):
                    yield Piece([table], text, None, "TableChunk")
            else:
                part = None if row_html is None else f"<table>{''.join(row_html[first:last])}</table>"
                yield Piece([table], "\n".join(rows[first:last]), None, "TableChunk", part)

    def _row_groups(self, rows: list[str]) -> Iterator[tuple[int, int]]:
        """Runs of rows ``[first, last)`` whose lines fit in one chunk; ``(i, i)`` for a row
        that does not fit alone."""
        first, size = 0, -1  # -1: no separator before the first row
        for index, row in enumerate(rows):
            if index > first and size + 1 + len(row) > self.max_characters:
                yield first, index
                first, size = index, -1
            if len(row) > self.max_characters:
                yield index, index
                first, size = index + 1, -1
            else:
                size += 1 + len(row)
        if first < len(rows):
            yield first, len(rows)

    def _cut(self, text: str) -> Iterator[str]:
        """TEXT in pieces of at most ``max_characters``, cut after the last word that fits."""
        limit, overlap, start = self.max_characters, self.overlap, 0
        while len(text) - start > limit:
            # the last word end in reach, past the overlap so that every piece moves on
            word_end = LAST_WORD_END.match(text, start + overlap, start + limit + 1)
            stop = start + limit if word_end is None else word_end.end()
            yield text[start:stop]
            following = NON_SPACE.search(text, stop)  # where the next piece's new text starts
            if following is None:
                return
            start = stop - overlap if overlap else following.start()
        yield text[start:]


def _gathered(elements: list[Element]) -> Piece:
    return Piece(elements, SEPARATOR.join(e.text for e in elements), encode_elements(elements))


def encode_elements(elements: Sequence[Element]) -> str:
    """ELEMENTS as unstructured writes ``orig_elements``, so its loader reads our chunks: the
    JSON list of their dicts (keys sorted), zlib-compressed, in base64. unstructured calls it
    gzipped, but it is zlib's format, the only one its reader takes."""
    dicts = [e.model_dump() for e in elements]
    for item in dicts:  # an element that is itself a chunk: no copies nested in copies
        item["metadata"].pop("orig_elements", None)
    return base64.b64encode(zlib.compress(json.dumps(dicts, sort_keys=True).encode())).decode("ascii")


def _html_rows(html: str | None, count: int) -> list[str] | None:
    """The ``<tr>``s of a table's HTML when they are its ``count`` text rows one for one, else
    None (a rowspan, a nested table, a cell with a line break): such a table's pieces carry
    no HTML rather than HTML that does not match their text."""
    if not html or not (html.startswith("<table>") and html.endswith("</table>")) or "rowspan" in html:
        return None
    inner = html[len("<table>") : -len("</table>")]
    rows: list[str] = ROW.findall(inner)
    return rows if len(rows) == count and "".join(rows) == inner else None
