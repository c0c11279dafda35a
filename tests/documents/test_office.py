"""Word and PowerPoint text that python-docx and python-pptx leave out, merged cells, and the
types of slide text. The files are written here with python-docx and python-pptx, with raw
XML where they have no API (as Word and PowerPoint write it)."""

from __future__ import annotations

import io
from typing import Any

from gristmill.documents import Partition
from gristmill.samples import Document, Element

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def partition(name: str, content: bytes) -> list[Element]:
    return Partition().process(Document(id=name, content=content, metadata={"filename": name})).elements


def saved(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def report() -> bytes:
    import docx
    from docx.enum.section import WD_SECTION
    from docx.opc.constants import CONTENT_TYPE, RELATIONSHIP_TYPE
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from docx.oxml import parse_xml

    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "ACME Corp - Internal"
    section.header.add_table(1, 2, section.page_width).rows[0].cells[0].text = "HDRTABLE-Doc 42"
    section.different_first_page_header_footer = True
    section.first_page_header.paragraphs[0].text = "FIRST-PAGE-HEADER"
    document.add_heading("Report", level=1)
    tracked = document.add_paragraph("The budget was ")
    tracked._p.append(
        parse_xml(f'<w:del {W} w:id="1"><w:r><w:delText>DELETED-old </w:delText></w:r></w:del>')
    )
    tracked._p.append(parse_xml(f'<w:ins {W} w:id="2"><w:r><w:t>INSERTED-approved</w:t></w:r></w:ins>'))
    tracked.add_run(" by the board.")
    field = document.add_paragraph("Pages: ")
    field._p.append(
        parse_xml(f'<w:fldSimple {W} w:instr="NUMPAGES"><w:r><w:t>FIELD-12</w:t></w:r></w:fldSimple>')
    )
    inline = document.add_paragraph("Client: ")
    inline._p.append(
        parse_xml(f"<w:sdt {W}><w:sdtContent><w:r><w:t>INLINESDT-Globex</w:t></w:r></w:sdtContent></w:sdt>")
    )
    anchor = document.add_paragraph("Anchor.")
    anchor._p.append(
        parse_xml(
            f'<w:r {W} xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
            'xmlns:v="urn:schemas-microsoft-com:vml"><mc:AlternateContent><mc:Choice Requires="wps">'
            "<w:drawing><w:txbxContent><w:p><w:r><w:t>TEXTBOX-costs fell</w:t></w:r></w:p></w:txbxContent>"
            "</w:drawing></mc:Choice><mc:Fallback><w:pict><v:textbox><w:txbxContent><w:p><w:r>"
            "<w:t>TEXTBOX-costs fell</w:t></w:r></w:p></w:txbxContent></v:textbox></w:pict></mc:Fallback>"
            "</mc:AlternateContent></w:r>"
        )
    )
    body = document.element.body
    body.insert(
        len(body) - 1,  # before the last section's properties
        parse_xml(
            f"<w:sdt {W}><w:sdtContent><w:p><w:r><w:t>SDT-Abstract</w:t></w:r></w:p></w:sdtContent></w:sdt>"
        ),
    )
    table = document.add_table(rows=3, cols=3)
    for column, text in enumerate(("Region", "Q2", "Q3")):
        table.cell(0, column).text = text
    table.cell(1, 0).merge(table.cell(1, 2)).text = "MERGED-total"
    table.cell(2, 0).text = "Outer"
    table.cell(2, 1).add_table(rows=1, cols=1).cell(0, 0).text = "NESTED-A"
    second = document.add_section(WD_SECTION.NEW_PAGE)
    second.header.is_linked_to_previous = False
    second.header.paragraphs[0].text = "SECTION2-HEADER"
    document.add_paragraph("Appendix body.")
    document.add_comment(document.paragraphs[-1].runs, text="COMMENT-check this", author="Bob")
    footnotes = (
        f'<w:footnotes {W}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
        '</w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>FOOTNOTE-Unaudited.</w:t></w:r></w:p></w:footnote>'
        "</w:footnotes>"
    )
    part = Part(
        PackURI("/word/footnotes.xml"), CONTENT_TYPE.WML_FOOTNOTES, footnotes.encode(), document.part.package
    )
    document.part.relate_to(part, RELATIONSHIP_TYPE.FOOTNOTES)
    return saved(document)


def test_word_text_outside_plain_runs_is_kept_and_deleted_text_is_not() -> None:
    found = partition("report.docx", report())
    texts = [(e.type, e.text, e.metadata.get("category")) for e in found if e.type != "Table"]
    assert texts == [
        ("Header", "ACME Corp - Internal", None),
        ("Header", "HDRTABLE-Doc 42", None),
        ("Header", "FIRST-PAGE-HEADER", None),
        ("Header", "SECTION2-HEADER", None),
        ("Title", "Report", None),
        ("NarrativeText", "The budget was INSERTED-approved by the board.", None),
        ("NarrativeText", "Pages: FIELD-12", None),
        ("NarrativeText", "Client: INLINESDT-Globex", None),
        ("NarrativeText", "Anchor.", None),
        ("NarrativeText", "TEXTBOX-costs fell", None),  # once: not again from the VML fallback
        ("NarrativeText", "SDT-Abstract", None),
        ("NarrativeText", "Appendix body.", None),
        ("NarrativeText", "FOOTNOTE-Unaudited.", "footnote"),
        ("NarrativeText", "COMMENT-check this", "comment"),
    ]
    assert all("DELETED" not in e.text for e in found)


def test_a_merged_word_cell_comes_once_with_its_span() -> None:
    (table,) = [e for e in partition("report.docx", report()) if e.type == "Table"]
    assert table.text == "Region Q2 Q3\nMERGED-total\nOuter NESTED-A"
    assert table.metadata["text_as_html"] == (
        "<table><tr><td>Region</td><td>Q2</td><td>Q3</td></tr>"
        '<tr><td colspan="3">MERGED-total</td></tr>'
        "<tr><td>Outer</td><td>NESTED-A</td><td></td></tr></table>"
    )


def test_vertically_merged_word_cells_get_a_rowspan() -> None:
    import docx

    document = docx.Document()
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).merge(table.cell(1, 0)).text = "Both rows"
    table.cell(0, 1).text, table.cell(1, 1).text = "one", "two"
    (element,) = partition("rows.docx", saved(document))
    assert element.text == "Both rows one\ntwo"
    assert element.metadata["text_as_html"] == (
        '<table><tr><td rowspan="2">Both rows</td><td>one</td></tr><tr><td>two</td></tr></table>'
    )


def deck() -> bytes:
    import pptx
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.oxml import parse_xml
    from pptx.util import Inches

    presentation = pptx.Presentation()
    cover = presentation.slides.add_slide(presentation.slide_layouts[0])  # title and subtitle
    cover.shapes.title.text = "Q3 Review"
    cover.placeholders[1].text = "Finance team"
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])  # title and content
    slide.shapes.title.text = "Highlights"
    frame = slide.placeholders[1].text_frame
    frame.text = "Revenue up"
    sub = frame.add_paragraph()
    sub.text, sub.level = "North led", 1
    box = slide.shapes.add_textbox(Inches(1), Inches(5), Inches(4), Inches(1)).text_frame
    box.text = "Thank you"
    broken = box.add_paragraph()
    broken.text = "first\vsecond"  # python-pptx writes a line break (a:br) for a vertical tab
    bulleted = box.add_paragraph()
    bulleted.text = "A bullet of its own"
    bulleted._p.get_or_add_pPr().append(
        parse_xml('<a:buChar xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" char="-"/>')
    )
    numbered = box.add_paragraph()
    numbered._p.append(
        parse_xml(
            '<a:fld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
            'id="{B6F15528-21DE-4FAA-801E-634DDDAF4B2B}" type="slidenum"><a:t>2</a:t></a:fld>'
        )
    )
    charted = presentation.slides.add_slide(presentation.slide_layouts[5])
    charted.shapes.title.text = "Revenue"
    data = CategoryChartData()
    data.categories = ["Q1", "Q2"]
    data.add_series("Sales", (10, 12.5))
    chart = charted.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, 0, 0, Inches(4), Inches(3), data).chart
    chart.has_title = True
    chart.chart_title.text_frame.text = "Revenue by quarter"
    table = charted.shapes.add_table(2, 2, 0, Inches(4), Inches(4), Inches(1)).table
    table.cell(0, 0).merge(table.cell(0, 1))
    table.cell(0, 0).text = "Merged"
    table.cell(1, 0).text, table.cell(1, 1).text = "a", "b"
    return saved(presentation)


def test_slide_text_is_typed_by_what_it_is_and_charts_and_breaks_are_kept() -> None:
    found = [(e.type, e.text, e.metadata.get("category_depth")) for e in partition("deck.pptx", deck())]
    assert found == [
        ("Title", "Q3 Review", None),
        ("Title", "Finance team", 1),  # the subtitle
        ("PageBreak", "", None),
        ("Title", "Highlights", None),
        ("ListItem", "Revenue up", None),  # a body placeholder: bulleted by the slide master
        ("ListItem", "North led", None),
        ("NarrativeText", "Thank you", None),  # a text box: no bullet
        ("NarrativeText", "first\nsecond", None),
        ("ListItem", "A bullet of its own", None),
        ("NarrativeText", "2", None),  # the slide number field
        ("PageBreak", "", None),
        ("Title", "Revenue", None),
        ("NarrativeText", "Revenue by quarter", None),
        ("Table", "Q1 Q2\nSales 10 12.5", None),
        ("Table", "Merged\na b", None),
    ]


def test_a_merged_slide_table_cell_has_a_colspan() -> None:
    table = [e for e in partition("deck.pptx", deck()) if e.type == "Table"][-1]
    assert table.metadata["text_as_html"] == (
        '<table><tr><td colspan="2">Merged</td></tr><tr><td>a</td><td>b</td></tr></table>'
    )
