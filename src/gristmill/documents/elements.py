"""Building elements: deterministic ids, the parent of each (the title it falls under), and
the shared metadata, with the field names of unstructured's element JSON."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gristmill._exceptions import ProcessingError
from gristmill.samples import Element

TITLE = "Title"


class Unsupported(ProcessingError):
    """A file of a format gristmill reads, with nothing in it that gristmill can read (a
    scanned PDF): ``Partition`` skips it with ``skip_unsupported``, else fails it."""


@dataclass
class Cell:
    """A table cell merged across columns or rows (a plain cell is its text alone)."""

    text: str
    colspan: int = 1
    rowspan: int = 1


UNDER_NO_TITLE = ("PageBreak", "Header", "Footer")  # the page's furniture, not the section's


class Elements:
    """The elements of one document, in reading order.

    ``source_id`` (the Document's id: its path relative to the source) goes into every
    element's id, so two files of the same name and content in different folders differ.
    """

    def __init__(self, filename: str, filetype: str, source_id: str | None = None, **metadata: Any) -> None:
        self.filename, self.filetype = filename, filetype
        self.source_id = filename if source_id is None else source_id
        self.metadata = {k: v for k, v in metadata.items() if v is not None}  # on every element
        self.document: dict[str, Any] = {}  # for the document's own metadata
        self.items: list[Element] = []
        # the titles still open, by depth: a title falls under the nearest one of lesser depth
        # (an h3 under its h2, as unstructured nests them), other elements under the last
        self._open: list[tuple[int, str]] = []

    def add(self, type_: str, text: str, *, page: int | None = None, **metadata: Any) -> Element | None:
        text = text.strip()
        if not text and type_ not in ("PageBreak", "Image"):
            return None
        meta: dict[str, Any] = {"filename": self.filename, "filetype": self.filetype, **self.metadata}
        if page is not None:
            meta["page_number"] = page
        depth = metadata.get("category_depth") or 0
        if type_ == TITLE:
            while self._open and self._open[-1][0] >= depth:
                self._open.pop()
        if type_ not in UNDER_NO_TITLE and self._open:
            meta["parent_id"] = self._open[-1][1]
        meta.update({k: v for k, v in metadata.items() if v is not None})
        element_id = _element_id(self.source_id, len(self.items), type_, text)
        element = Element(type=type_, element_id=element_id, text=text, metadata=meta)
        self.items.append(element)
        if type_ == TITLE:
            self._open.append((depth, element_id))
        return element

    def end_section(self) -> None:
        """The elements from here on fall under no title (a new slide: a title never spans two)."""
        self._open.clear()

    def page_break(self, page: int) -> None:
        self.add("PageBreak", "", page=page)

    def table(self, rows: Sequence[Sequence[Any]], *, page: int | None = None, **metadata: Any) -> None:
        """A table of ROWS of values, a merged cell a ``Cell`` (given once: not again for
        each column or row it covers)."""
        cells = [
            [c if isinstance(c, Cell) else "" if c is None else str(c).strip() for c in row] for row in rows
        ]
        cells = [row for row in cells if any(map(_text, row))]
        if cells:
            text = "\n".join(" ".join(_text(c) for c in row if _text(c)) for row in cells)
            self.add("Table", text, page=page, text_as_html=table_html(cells), **metadata)


def table_html(rows: Sequence[Sequence[str | Cell]]) -> str:
    body = "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in rows)
    return f"<table>{body}</table>"


def _text(cell: str | Cell) -> str:
    return cell.text.strip() if isinstance(cell, Cell) else cell


def _td(cell: str | Cell) -> str:
    if isinstance(cell, str):
        return f"<td>{html.escape(cell)}</td>"
    spans = "".join(
        f' {name}="{n}"' for name, n in (("colspan", cell.colspan), ("rowspan", cell.rowspan)) if n > 1
    )
    return f"<td{spans}>{html.escape(_text(cell))}</td>"


def _element_id(source_id: str, index: int, type_: str, text: str) -> str:
    """Same document, same element: same id, run after run and machine after machine; the
    sequence number keeps the same text twice in one document apart."""
    return hashlib.sha256(f"{source_id}\0{index}\0{type_}\0{text}".encode()).hexdigest()[:32]
