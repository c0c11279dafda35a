"""Word, PowerPoint and Excel files (python-docx, python-pptx, python-calamine), after a look
inside the zip: one that would expand far beyond its size (a zip bomb) is refused unread."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from gristmill._exceptions import ProcessingError
from gristmill.documents.elements import Cell, Elements

T = TypeVar("T")
MAX_UNZIPPED = 256 * 1024 * 1024  # bytes an office file may expand to
MAX_RATIO = 200  # uncompressed / compressed, for any member over 1 MB
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
WRAPPERS = (f"{W}sdt", f"{W}customXml")  # content controls: their content is the document's
# Not shown by Word: deleted and moved-away text (tracked changes), a field's instruction, the
# VML copy of a text box (mc:Fallback); properties hold no text.
HIDDEN = {
    f"{W}{tag}" for tag in ("del", "moveFrom", "instrText", "delInstrText", "pPr", "rPr", "sdtPr", "tcPr")
} | {"{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"}
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
NOTES = tuple((RELATIONSHIPS + f"{kind}s", kind, f"{W}{kind}") for kind in ("footnote", "endnote", "comment"))
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
BULLET_TAGS = (f"{A}buChar", f"{A}buAutoNum", f"{A}buBlip")


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

    document = _load(data, "Word", docx.Document)
    styles = _StyleNames(document)
    headers, footers = _headers_and_footers(document)
    _furniture(headers, "Header", out)
    for block, content in _blocks(document.element.body):
        if not isinstance(content, str):
            out.table(content)
            continue
        style = styles[_style_id(block)]
        if style == "Title" or style.startswith("Heading"):
            depth = int(style.rsplit(" ", 1)[-1]) - 1 if style[-1:].isdigit() else 0
            out.add("Title", content, category_depth=depth)
        elif style.startswith("List") or block.find(f"{W}pPr/{W}numPr") is not None:
            out.add("ListItem", content)
        else:
            out.add("NarrativeText", content)
    out.end_section()  # what follows the body falls under none of its headings
    _furniture(footers, "Footer", out)
    for reltype, category, tag in NOTES:
        for rel in document.part.rels.values():
            if rel.reltype == reltype and not rel.is_external:
                for note in _part_xml(rel.target_part).iter(tag):
                    if note.get(f"{W}type", "normal") == "normal":  # not the separator lines
                        out.add("NarrativeText", _flat(_blocks(note)), category=category)


def _blocks(container: Any) -> Iterator[tuple[Any, str | list[list[str | Cell]]]]:
    """The paragraphs (with their text) and tables (with their rows) of CONTAINER in order,
    those in content controls and in a paragraph's text boxes (after it) included."""
    for child in _unwrapped(container):
        if child.tag == f"{W}p":
            boxes: list[Any] = []
            parts: list[str] = []
            _runs_text(child, parts, boxes)
            yield child, "".join(parts)
            for box in boxes:
                yield from _blocks(box)
        elif child.tag == f"{W}tbl":
            yield child, _table_rows(child)


def _unwrapped(element: Any) -> Iterator[Any]:
    """The children of ELEMENT, those of content controls in their stead."""
    for child in element:
        if child.tag in WRAPPERS:
            content = child.find(f"{W}sdtContent") if child.tag == WRAPPERS[0] else child
            yield from _unwrapped(content if content is not None else ())
        else:
            yield child


def _runs_text(element: Any, parts: list[str], boxes: list[Any]) -> None:
    """Adds to PARTS the text Word shows of ELEMENT's runs, wherever they are (insertions,
    hyperlinks, fields, inline content controls), and to BOXES its text boxes."""
    for child in element:
        tag = child.tag
        if tag == f"{W}t":
            parts.append(child.text or "")
        elif tag == f"{W}tab":
            parts.append("\t")
        elif tag in (f"{W}br", f"{W}cr"):
            parts.append("\n")
        elif tag == f"{W}noBreakHyphen":
            parts.append("-")
        elif tag == f"{W}txbxContent":
            boxes.append(child)
        elif tag not in HIDDEN:
            _runs_text(child, parts, boxes)


def _table_rows(table: Any) -> list[list[str | Cell]]:
    """The rows of a Word table, a merged cell once (as a Cell), a nested table's text in its cell."""
    rows: list[list[str | Cell]] = []
    merging: dict[int, Cell] = {}  # by grid column: the cell that a vertical merge continues
    for tr in (child for child in _unwrapped(table) if child.tag == f"{W}tr"):
        row: list[str | Cell] = []
        column = 0
        for tc in (child for child in _unwrapped(tr) if child.tag == f"{W}tc"):
            grid_span = tc.find(f"{W}tcPr/{W}gridSpan")
            span = 1 if grid_span is None else int(grid_span.get(f"{W}val", 1))
            vmerge = tc.find(f"{W}tcPr/{W}vMerge")
            if vmerge is not None and vmerge.get(f"{W}val") != "restart" and column in merging:
                merging[column].rowspan += 1  # the cell above goes on down: it is not repeated
            else:
                text = _flat(_blocks(tc))
                cell: str | Cell = Cell(text, colspan=span) if span > 1 or vmerge is not None else text
                if isinstance(cell, Cell) and vmerge is not None:
                    merging[column] = cell
                else:
                    merging.pop(column, None)
                row.append(cell)
            column += span
        rows.append(row)
    return rows


def _flat(blocks: Iterable[tuple[Any, str | list[list[str | Cell]]]]) -> str:
    """The text of BLOCKS, a table's rows one a line."""
    lines = []
    for _, content in blocks:
        if isinstance(content, str):
            lines.append(content)
        else:
            lines.extend(" ".join(c.text if isinstance(c, Cell) else c for c in row) for row in content)
    return "\n".join(lines)


def _style_id(paragraph: Any) -> str | None:
    style = paragraph.find(f"{W}pPr/{W}pStyle")
    return None if style is None else style.get(f"{W}val")


def _headers_and_footers(document: Any) -> tuple[list[Any], list[Any]]:
    """The header and footer parts of every section (first-page and even-page ones included)."""
    headers, footers = [], []
    for section in document.element.body.iter(f"{W}sectPr"):
        for reference in section:
            part = document.part.related_parts.get(reference.get(R_ID))
            if part is None:
                continue
            if reference.tag == f"{W}headerReference":
                headers.append(_part_xml(part))
            elif reference.tag == f"{W}footerReference":
                footers.append(_part_xml(part))
    return headers, footers


def _furniture(parts: list[Any], kind: str, out: Elements) -> None:
    """Each text of header (footer) PARTS once: sections and first pages repeat them."""
    seen = set()
    for part in parts:
        for _, content in _blocks(part):
            text = content if isinstance(content, str) else _flat([(None, content)])
            if text.strip() and text.strip() not in seen:
                seen.add(text.strip())
                out.add(kind, text)


def _part_xml(part: Any) -> Any:
    """The root element of a document part (python-docx parses only the parts it knows)."""
    from docx.oxml.parser import parse_xml

    element = getattr(part, "element", None)
    return parse_xml(part.blob) if element is None else element


def partition_pptx(data: bytes, out: Elements) -> None:
    import pptx
    from pptx.enum.shapes import PP_PLACEHOLDER

    deck = _load(data, "PowerPoint", pptx.Presentation)
    body_placeholders = {
        PP_PLACEHOLDER.BODY,
        PP_PLACEHOLDER.OBJECT,
        PP_PLACEHOLDER.VERTICAL_BODY,
        PP_PLACEHOLDER.VERTICAL_OBJECT,
    }
    for number, slide in enumerate(deck.slides, 1):
        if number > 1:
            out.page_break(number)
        out.end_section()  # a slide's elements fall under its own title, never the last slide's
        title = slide.shapes.title
        if title is not None and title.has_text_frame:
            out.add("Title", _slide_text(title.text_frame.text), page=number)
        bullets = _master_bullets(slide.slide_layout.slide_master)
        for shape in _shapes(slide.shapes):
            if shape == title:
                continue
            if getattr(shape, "has_table", False) and shape.has_table:
                out.table(_slide_table_rows(shape.table), page=number)
            elif getattr(shape, "has_chart", False) and shape.has_chart:
                _chart(shape.chart, out, number)
            elif shape.has_text_frame:
                kind = shape.placeholder_format.type if shape.is_placeholder else None
                for paragraph in shape.text_frame.paragraphs:
                    text = _slide_text(paragraph.text)
                    if kind == PP_PLACEHOLDER.SUBTITLE:
                        out.add("Title", text, page=number, category_depth=1)
                    elif _bulleted(paragraph, kind in body_placeholders, bullets):
                        out.add("ListItem", text, page=number)
                    else:
                        out.add("NarrativeText", text, page=number)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None:
                out.add("NarrativeText", _slide_text(notes.text), page=number, category="notes")


def _slide_text(text: str) -> str:
    return text.replace("\v", "\n")  # python-pptx gives a line break (a:br) as a vertical tab


def _has_bullet(properties: Any) -> bool | None:
    """Whether paragraph PROPERTIES (a:pPr, a:lvlNpPr) set a bullet; None: they do not say."""
    if properties is None:
        return None
    if properties.find(f"{A}buNone") is not None:
        return False
    return True if any(properties.find(tag) is not None for tag in BULLET_TAGS) else None


def _master_bullets(master: Any) -> list[bool]:
    """For each of the 9 levels, whether the slide master bullets text in a body placeholder."""
    style = master.element.find(
        "{http://schemas.openxmlformats.org/presentationml/2006/main}txStyles/"
        "{http://schemas.openxmlformats.org/presentationml/2006/main}bodyStyle"
    )
    if style is None:
        return [False] * 9
    return [bool(_has_bullet(style.find(f"{A}lvl{level}pPr"))) for level in range(1, 10)]


def _bulleted(paragraph: Any, in_body: bool, master_bullets: list[bool]) -> bool:
    """A bullet or number of its own, or a body placeholder's (the master's, at its level; a
    level below the first is a sub-point)."""
    own = _has_bullet(paragraph._p.pPr)
    if own is not None:
        return own
    return in_body and (paragraph.level > 0 or master_bullets[min(paragraph.level, 8)])


def _slide_table_rows(table: Any) -> list[list[str | Cell]]:
    rows: list[list[str | Cell]] = []
    for row in table.rows:
        cells: list[str | Cell] = []
        for cell in row.cells:
            if cell.is_spanned:  # covered by a merged cell before it
                continue
            text = _slide_text(cell.text)
            cells.append(Cell(text, cell.span_width, cell.span_height) if cell.is_merge_origin else text)
        rows.append(cells)
    return rows


def _chart(chart: Any, out: Elements, page: int) -> None:
    """A chart's title, then its data as a table: categories across, a row per series."""
    if chart.has_title and chart.chart_title.has_text_frame:
        out.add("NarrativeText", _slide_text(chart.chart_title.text_frame.text), page=page)
    for plot in chart.plots:
        categories = [str(category) for category in plot.categories]
        rows = [["", *categories]] if categories else []
        rows += [[series.name, *map(_cell, series.values)] for series in plot.series]
        out.table(rows, page=page)


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
