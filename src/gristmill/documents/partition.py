"""``Partition``: a document's bytes into typed elements."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, Literal

from gristmill._exceptions import ConfigError, ProcessingError, SkipItem
from gristmill.documents import IMPORTS, data, mail, markup, office, pdf, text
from gristmill.documents.detect import MIME, describe, detect
from gristmill.documents.elements import Elements, Unsupported
from gristmill.processors import Processor
from gristmill.samples import Document, Element

PARSERS: dict[str, Callable[[bytes, Elements], None]] = {
    "txt": text.partition_text,
    "md": text.partition_markdown,
    "html": markup.partition_html,
    "xml": markup.partition_xml,
    "pdf": pdf.partition_pdf,
    "docx": office.partition_docx,
    "pptx": office.partition_pptx,
    "xlsx": office.partition_xlsx,
    "csv": partial(data.partition_delimited, delimiter=","),
    "tsv": partial(data.partition_delimited, delimiter="\t"),
    "json": data.partition_json,
    "jsonl": data.partition_jsonl,
    "eml": mail.partition_email,
}


class Partition(Processor):
    """Finds the elements of a document: titles, narrative text, list items, tables (with
    ``text_as_html``), headers, footers, page breaks, images, e-mail addresses, each with a
    deterministic ``element_id`` and ``metadata`` (filename, filetype, page_number,
    parent_id, ...), as unstructured's element JSON names them.

    The format comes from the content (a PDF named ``.bin`` is read as a PDF). A file of no
    supported format fails, or is skipped with ``skip_unsupported``. ``backend="unstructured"``
    hands the file to the unstructured library instead, where it is installed.
    """

    version = "2"  # 2: paragraphs of PDFs, Word text boxes and notes, heading depths (outputs differ)
    imports = IMPORTS
    backend: Literal["gristmill", "unstructured"] = "gristmill"
    skip_unsupported: bool = False
    # whether an unsupported file fails or is skipped: no document's elements change
    not_settings: ClassVar[frozenset[str]] = frozenset({"skip_unsupported"})

    def setup(self) -> None:
        if self.backend == "unstructured":
            try:
                import unstructured.partition.auto  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "backend='unstructured' needs it installed: pip install unstructured"
                ) from None

    def process(self, sample: Any) -> Document:
        if not isinstance(sample, Document) or sample.content is None:
            raise ProcessingError("Partition needs a Document with its content (a Files source gives one)")
        filename = str(sample.metadata.get("filename") or sample.id.rsplit("/", 1)[-1])
        if not sample.content:
            raise ProcessingError("the file is empty: nothing to extract")
        kind = detect(sample.content, filename)
        if kind is None:
            reason = f"not a supported document format: {describe(sample.content)}"
            raise self._unsupported(reason)
        found: dict[str, object] = {}  # what the document says of itself (METS metadata)
        if self.backend == "unstructured":
            elements = _unstructured(sample.content, filename)
        else:
            folder = sample.id.rpartition("/")[0] or None  # the file's folder within the source
            out = Elements(filename, MIME[kind], sample.id, file_directory=folder)
            try:
                PARSERS[kind](sample.content, out)
            except Unsupported as exc:  # a known format, but nothing gristmill can read in it
                raise self._unsupported(exc.message) from None
            elements, found = out.items, out.document
        metadata = {**sample.metadata, **found, "filetype": MIME[kind]}
        return sample.model_copy(update={"content": None, "elements": elements, "metadata": metadata})

    def _unsupported(self, reason: str) -> SkipItem | ProcessingError:
        """The item skipped with ``skip_unsupported``, else failed with a word on skipping."""
        if self.skip_unsupported:
            return SkipItem(reason)
        return ProcessingError(f"{reason}; pass --skip-unsupported to skip such files")


def _unstructured(content: bytes, filename: str) -> list[Element]:
    import io

    from unstructured.partition.auto import partition

    found = partition(file=io.BytesIO(content), metadata_filename=filename)
    return [Element.model_validate(element.to_dict()) for element in found]
