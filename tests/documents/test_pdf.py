"""PDF structure: paragraphs, headings, lists, running headers and footers, soft hyphens, and
scanned PDFs. The PDFs are written here with fpdf2 (and Pillow for the scanned page)."""

from __future__ import annotations

import io

import pytest
from fpdf import FPDF

from gristmill import ProcessingError, SkipItem
from gristmill.documents import Partition
from gristmill.samples import Document, Element

BODY = (
    "The mill wheel turns all day long when the river is high, and the miller checks the "
    "stones every morning before the first sacks of grain are carried in from the yard."
)


def partition(content: bytes, **options: object) -> list[Element]:
    document = Document(id="book.pdf", content=content, metadata={"filename": "book.pdf"})
    return Partition(**options).process(document).elements


class Book(FPDF):
    """Pages with a running header, and a footer numbering them."""

    def header(self) -> None:
        self.set_font("helvetica", size=8)
        self.cell(0, 6, "Records of the Parish of Millbrook - Confidential", new_x="LMARGIN", new_y="NEXT")
        self.ln(6)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("helvetica", size=8)
        self.cell(0, 6, f"Page {self.page_no()}")


def book() -> bytes:
    pdf = Book()
    for chapter in (1, 2, 3):
        pdf.add_page()
        pdf.set_font("helvetica", "B", 16)
        pdf.cell(0, 10, f"Chapter {chapter}: The Accounts", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        for paragraph in ("first", "second"):
            pdf.multi_cell(0, 5.5, f"{paragraph.title()} paragraph. {BODY}", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        for item in ("Oil the gears.", "Sweep the floor."):
            pdf.multi_cell(0, 5.5, f"- {item}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def test_a_page_is_split_into_headings_paragraphs_and_list_items() -> None:
    found = [(e.type, e.text, e.metadata.get("page_number")) for e in partition(book())]
    page = [(kind, text) for kind, text, number in found if number == 2 and kind != "PageBreak"]
    assert page == [
        ("Header", "Records of the Parish of Millbrook - Confidential"),
        ("Title", "Chapter 2: The Accounts"),
        ("NarrativeText", f"First paragraph. {BODY}"),
        ("NarrativeText", f"Second paragraph. {BODY}"),
        ("ListItem", "Oil the gears."),
        ("ListItem", "Sweep the floor."),
        ("Footer", "Page 2"),
    ]
    assert [text for kind, text, _ in found if kind == "Title"] == [
        f"Chapter {n}: The Accounts" for n in (1, 2, 3)
    ]


def test_a_word_hyphenated_at_a_line_end_is_joined() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 6, "The committee reviewed the docu-", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, "ment carefully and found it complete.", new_x="LMARGIN", new_y="NEXT")
    (element,) = partition(bytes(pdf.output()))
    assert element.text == "The committee reviewed the document carefully and found it complete."


def scanned(text_pages: int = 0) -> bytes:
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(picture).text((20, 80), "A page of text, as a picture", fill="black")
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for _ in range(text_pages):
        pdf.add_page()
        pdf.cell(0, 10, "A page with a text layer.")
    for _ in range(2):
        pdf.add_page()
        pdf.image(picture, x=10, y=10, w=180)
    return bytes(pdf.output())


def test_a_scanned_pdf_fails_or_is_skipped_as_needing_ocr() -> None:
    reason = r"no text layer on any page \(a scanned document\?\): it needs OCR, which gristmill does not do"
    with pytest.raises(ProcessingError, match=reason + "; pass --skip-unsupported"):
        partition(scanned())
    with pytest.raises(SkipItem, match=reason):
        partition(scanned(), skip_unsupported=True)
    found = partition(scanned(text_pages=1))  # some text: done, with what there is
    assert [e.text for e in found if e.type != "PageBreak"] == ["A page with a text layer."]


def test_an_image_made_for_the_test_is_valid() -> None:
    """The scanned PDF above holds a real image: PDFium renders it (so 'no text' is no accident)."""
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(io.BytesIO(scanned()))[0]
    assert page.get_textpage().count_chars() == 0
    assert len(list(page.get_objects())) == 1
