"""``Chunk``: elements gathered into chunks of bounded size, for search indexes and models."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, model_validator

from gristmill._exceptions import ProcessingError
from gristmill.processors import Processor
from gristmill.samples import Document, Element

SEPARATOR = "\n\n"
# metadata a chunk takes from its first element
KEPT = ("filename", "file_directory", "filetype", "page_number", "languages")


class Chunk(Processor):
    """Gathers a document's elements into chunks of at most ``max_characters``.

    ``basic`` fills each chunk with whole elements; ``by_title`` also starts a new one at
    every title, so a chunk never spans two sections. A chunk is closed once it reaches
    ``new_after_n_chars`` (a soft limit, default: the hard one). A table stays alone in its
    chunk; an element longer than the limit is cut, and each piece after the first starts
    with the last ``overlap`` characters of the one before. Every chunk lists the ids of the
    elements it was made from in ``metadata["orig_elements"]``.
    """

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
        chunks = list(self._chunks(sample.elements))
        for index, chunk in enumerate(chunks):  # the sequence number keeps the pieces of one element apart
            key = f"{index}\0{chunk.metadata['orig_elements']}\0{chunk.text}"
            chunk.element_id = hashlib.sha256(key.encode()).hexdigest()[:32]
        return sample.model_copy(update={"elements": chunks})

    def _chunks(self, elements: list[Element]) -> Iterator[Element]:
        soft = min(self.new_after_n_chars or self.max_characters, self.max_characters)
        held: list[Element] = []
        size = 0
        for element in elements:
            if element.type in ("PageBreak",) or not element.text:
                continue
            starts_section = self.strategy == "by_title" and element.type == "Title"
            fits = size + len(SEPARATOR) + len(element.text) <= self.max_characters
            if held and (element.type == "Table" or starts_section or not fits or size >= soft):
                yield self._chunk(held)
                held, size = [], 0
            if element.type == "Table" or len(element.text) > self.max_characters:
                yield from self._split(element)
                continue
            held.append(element)
            size += (len(SEPARATOR) if size else 0) + len(element.text)
        if held:
            yield self._chunk(held)

    def _chunk(
        self, elements: list[Element], text: str | None = None, kind: str = "CompositeElement"
    ) -> Element:
        first = elements[0]
        text = SEPARATOR.join(e.text for e in elements) if text is None else text
        metadata = {k: v for k, v in first.metadata.items() if k in KEPT}
        metadata["orig_elements"] = [e.element_id for e in elements]
        return Element(type=kind, element_id="", text=text, metadata=metadata)  # the id: in process()

    def _split(self, element: Element) -> Iterator[Element]:
        """An element too big for one chunk (or a table) in pieces, the later ones overlapping."""
        kind = "Table" if element.type == "Table" else "CompositeElement"
        text, step = element.text, self.max_characters - self.overlap
        if len(text) <= self.max_characters:
            chunk = self._chunk([element], text, kind)
            if "text_as_html" in element.metadata:
                chunk.metadata["text_as_html"] = element.metadata["text_as_html"]
            yield chunk
            return
        kind = "TableChunk" if kind == "Table" else kind
        for start in range(0, len(text) - self.overlap, step):
            yield self._chunk([element], text[start : start + self.max_characters], kind)
