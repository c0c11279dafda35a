"""PDF structure: paragraphs, headings, lists, running headers and footers, soft hyphens, and
scanned PDFs. The PDFs are written here with fpdf2 (and Pillow for the scanned page)."""

from __future__ import annotations

import io
from collections.abc import Callable

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


def pages(*writers: Callable[[FPDF, int], None], count: int = 3) -> bytes:
    """COUNT pages, each written by WRITERS in turn (given the page's number)."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for number in range(1, count + 1):
        pdf.add_page()
        for write in writers:
            write(pdf, number)
    return bytes(pdf.output())


def numbered_first_sentence(pdf: FPDF, number: int) -> None:  # in a column: its first line is short
    pdf.multi_cell(90, 5, f"Section {number} of the survey covers the mill at the ford. {BODY}")
    pdf.ln(3)


def body(pdf: FPDF, number: int) -> None:
    pdf.multi_cell(0, 5, BODY, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def invoice_total(pdf: FPDF, number: int) -> None:
    pdf.multi_cell(0, 5, f"Invoice total: {100 * number} EUR", new_x="LMARGIN", new_y="NEXT")


def actions(pdf: FPDF, number: int) -> None:
    for item in ("Order new millstones", "Call the insurer")[number % 2 :]:
        pdf.cell(0, 6, f"- {item}", new_x="LMARGIN", new_y="NEXT")


def sacks(pdf: FPDF, number: int) -> None:
    pdf.cell(0, 6, f"{(12500, 9800, 14100)[number - 1]}", new_x="LMARGIN", new_y="NEXT")


def year(pdf: FPDF, number: int) -> None:
    pdf.cell(0, 6, "2024", new_x="LMARGIN", new_y="NEXT")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            pages(numbered_first_sentence, body),
            [
                ("NarrativeText", f"Section {n} of the survey covers the mill at the ford. {BODY}")
                for n in (1, 2, 3)
            ],
            id="a-numbered-first-sentence",
        ),
        pytest.param(
            pages(body, invoice_total),
            [("NarrativeText", f"Invoice total: {n} EUR") for n in (100, 200, 300)],
            id="a-total-at-the-foot",
        ),
        pytest.param(
            pages(body, actions),
            [("ListItem", "Call the insurer")] * 3,
            id="a-last-list-item",
        ),
        pytest.param(
            pages(body, sacks),
            [("NarrativeText", f"{n}") for n in (12500, 9800, 14100)],
            id="numbers-alone-that-do-not-count-pages",
        ),
        pytest.param(
            pages(year, body, sacks, count=1),
            [("NarrativeText", "2024"), ("NarrativeText", "12500")],
            id="numbers-alone-on-one-page",
        ),
    ],
)
def test_body_text_repeated_at_a_page_edge_is_no_header_or_footer(
    content: bytes, expected: list[tuple[str, str]]
) -> None:
    """Templated text recurs at the top or the bottom of pages too; only a short line set apart,
    on many pages, whose numbers count the pages, runs."""
    found = [(e.type, e.text) for e in partition(content) if e.type != "PageBreak"]
    assert not [text for kind, text in found if kind in ("Header", "Footer")]
    assert all(element in found for element in expected), found


class Numbered(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("helvetica", size=8)
        self.cell(0, 6, f"- {self.page_no()} -", align="C")


def test_a_number_alone_that_counts_the_pages_is_a_footer() -> None:
    pdf = Numbered()
    pdf.set_font("helvetica", size=11)
    for _ in range(3):
        pdf.add_page()
        body(pdf, 0)
        actions(pdf, 1)
    found = [(e.type, e.text) for e in partition(bytes(pdf.output())) if e.type in ("Footer", "ListItem")]
    assert found == [
        item for n in (1, 2, 3) for item in (("ListItem", "Call the insurer"), ("Footer", f"- {n} -"))
    ]
