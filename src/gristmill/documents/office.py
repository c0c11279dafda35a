"""Word, PowerPoint and Excel files (python-docx, python-pptx, openpyxl), after a look
inside the zip: one that would expand far beyond its size (a zip bomb) is refused unread."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from gristmill._exceptions import ProcessingError
from gristmill.documents.elements import Elements

T = TypeVar("T")
MAX_UNZIPPED = 256 * 1024 * 1024  # bytes an office file may expand to
MAX_RATIO = 200  # uncompressed / compressed, for any member over 1 MB


def open_zip(data: bytes, max_unzipped: int = MAX_UNZIPPED) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ProcessingError(f"the file is a damaged zip archive ({exc})") from None
    total = 0
    for info in archive.infolist():
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > MAX_RATIO:
            raise ProcessingError(
                f"{info.filename} would expand {ratio:,.0f} times (to {info.file_size:,} bytes): "
                "refused as a likely zip bomb"
            )
    if total > max_unzipped:
        raise ProcessingError(
            f"the archive would expand to {total:,} bytes, over the {max_unzipped:,} allowed: "
            "refused as a likely zip bomb"
        )
    for info in archive.infolist():  # a DTD has no business in an office file: refuse, unparsed
        if info.filename.endswith((".xml", ".rels")):
            with archive.open(info) as member:
                if b"<!DOCTYPE" in member.read(4096).upper():
                    raise ProcessingError(
                        f"{info.filename} declares a DTD: refused (entities are never expanded)"
                    )
    return archive


def zip_kind(data: bytes) -> str | None:
    """docx, pptx or xlsx, from the members of the zip; None for another zip."""
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except zipfile.BadZipFile:
        return None
    for member, kind in (
        ("word/document.xml", "docx"),
        ("ppt/presentation.xml", "pptx"),
        ("xl/workbook.xml", "xlsx"),
    ):
        if member in names:
            return kind
    return None


def _style(paragraph: Any) -> str:
    try:
        return str(paragraph.style.name or "") if paragraph.style is not None else ""
    except (KeyError, ValueError):
        return ""


def _load(data: bytes, what: str, reader: Callable[[io.BytesIO], T]) -> T:
    """DATA opened by READER, once its zip is known to be safe to expand."""
    open_zip(data)
    try:
        return reader(io.BytesIO(data))
    except Exception as exc:  # each library raises its own kinds for a damaged file
        raise ProcessingError(f"the {what} file cannot be read ({type(exc).__name__}: {exc})") from None


def partition_docx(data: bytes, out: Elements) -> None:
    import docx
    from docx.table import Table

    document = _load(data, "Word", docx.Document)
    section = document.sections[0] if document.sections else None
    if section is not None:
        for paragraph in section.header.paragraphs:
            out.add("Header", paragraph.text)
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            out.table([[cell.text for cell in row.cells] for row in block.rows])
            continue
        style = _style(block)
        if style == "Title" or style.startswith("Heading"):
            depth = int(style.rsplit(" ", 1)[-1]) - 1 if style[-1:].isdigit() else 0
            out.add("Title", block.text, category_depth=depth)
        elif style.startswith("List") or (block._p.pPr is not None and block._p.pPr.numPr is not None):
            out.add("ListItem", block.text)
        else:
            out.add("NarrativeText", block.text)
    if section is not None:
        for paragraph in section.footer.paragraphs:
            out.add("Footer", paragraph.text)


def partition_pptx(data: bytes, out: Elements) -> None:
    import pptx

    deck = _load(data, "PowerPoint", pptx.Presentation)
    for number, slide in enumerate(deck.slides, 1):
        if number > 1:
            out.page_break(number)
        title = slide.shapes.title
        if title is not None and title.has_text_frame:
            out.add("Title", title.text_frame.text, page=number)
        for shape in slide.shapes:
            if shape == title:
                continue
            if getattr(shape, "has_table", False) and shape.has_table:
                out.table([[cell.text for cell in row.cells] for row in shape.table.rows], page=number)
            elif shape.has_text_frame:
                for paragraph in shape.text_frame.paragraphs:
                    text = "".join(run.text for run in paragraph.runs)
                    out.add(
                        "ListItem" if paragraph.level > 0 or len(text) < 120 else "NarrativeText",
                        text,
                        page=number,
                    )
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None:
                out.add("NarrativeText", notes.text, page=number, category="notes")


def partition_xlsx(data: bytes, out: Elements) -> None:
    import openpyxl

    book = _load(data, "Excel", partial(openpyxl.load_workbook, read_only=True, data_only=True))
    try:
        for number, sheet in enumerate(book.worksheets, 1):
            out.table(list(sheet.iter_rows(values_only=True)), page=number, page_name=sheet.title)
    finally:
        book.close()
