"""PDF text, page by page, with pypdfium2 (PDFium: fast, and it tells a damaged file from
an encrypted one)."""

from __future__ import annotations

from gristmill._exceptions import ProcessingError
from gristmill.documents.elements import Elements
from gristmill.documents.text import paragraphs


def partition_pdf(data: bytes, out: Elements) -> None:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = str(exc).lower()
        if "password" in reason:
            raise ProcessingError(
                "the PDF is encrypted (it needs a password); decrypt it first, e.g. qpdf --decrypt"
            ) from None
        raise ProcessingError(f"the PDF is damaged or truncated ({exc}); the file cannot be read") from None
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            text = textpage.get_text_bounded()
            textpage.close()
            page.close()
            if index:
                out.page_break(index + 1)
            paragraphs(text, out, page=index + 1, leading_titles=True)
    finally:
        pdf.close()
