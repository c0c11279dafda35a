"""Word, PowerPoint and Excel files (python-docx, python-pptx, python-calamine), after a look
inside the zip: one that would expand far beyond its size (a zip bomb) is refused unread."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
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


class _StyleNames(dict[str | None, str]):
    """Paragraph style names by style id (None: the default style), each looked up once per
    document: python-docx looks a paragraph's style up anew every time, a fifth of the whole
    extraction's time."""

    def __init__(self, document: Any) -> None:
        super().__init__()
        self.document = document

    def __missing__(self, style_id: str | None) -> str:
        from docx.enum.style import WD_STYLE_TYPE

        try:
            style = self.document.part.get_style(style_id, WD_STYLE_TYPE.PARAGRAPH)
            name = str(style.name or "") if style is not None else ""
        except (KeyError, ValueError):  # a damaged styles part: no name
            name = ""
        self[style_id] = name
        return name


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
    styles = _StyleNames(document)
    section = document.sections[0] if document.sections else None
    if section is not None:
        for paragraph in section.header.paragraphs:
            out.add("Header", paragraph.text)
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            out.table([[cell.text for cell in row.cells] for row in block.rows])
            continue
        style = styles[block._p.style]
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
        out.end_section()  # a slide's elements fall under its own title, never the last slide's
        title = slide.shapes.title
        if title is not None and title.has_text_frame:
            out.add("Title", title.text_frame.text, page=number)
        for shape in _shapes(slide.shapes):
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


def _shapes(shapes: Any) -> Iterator[Any]:
    """The shapes of a slide in order, those inside groups (and groups of groups) included."""
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _shapes(shape.shapes)
        else:
            yield shape


def partition_xlsx(data: bytes, out: Elements) -> None:
    # calamine (Rust) reads a workbook about 20 times faster than openpyxl and imports in
    # milliseconds instead of a quarter of a second
    from python_calamine import CalamineWorkbook

    book = _load(data, "Excel", CalamineWorkbook.from_filelike)
    for number, name in enumerate(book.sheet_names, 1):
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        out.table([[_cell(value) for value in row] for row in rows], page=number, page_name=name)


def _cell(value: Any) -> Any:
    """A whole number as Excel shows it (calamine gives every number as a float)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
