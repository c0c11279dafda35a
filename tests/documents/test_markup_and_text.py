"""HTML, XML, plain text and Markdown: what real pages and files hold (breaks, captions,
preformatted text, heading levels, code fences, legacy encodings) and formats refused by name."""

from __future__ import annotations

import pytest

from gristmill import ProcessingError, SkipItem
from gristmill.documents import Partition
from gristmill.samples import Document, Element


def partition(name: str, content: bytes, **options: object) -> list[Element]:
    document = Document(id=name, content=content, metadata={"filename": name})
    return Partition(**options).process(document).elements


def texts(name: str, content: bytes) -> list[tuple[str, str]]:
    return [(e.type, e.text) for e in partition(name, content)]


def test_words_in_html_table_cells_stay_apart_and_the_caption_is_kept() -> None:
    html = (
        b"<p>before</p><table><caption>Opening times</caption><tr><th>Day</th><th>Hours</th></tr>"
        b"<tr><td>Saturday</td><td>first<br>second</td></tr>"
        b"<tr><td><p>one</p><p>two</p></td><td><h3>head</h3>-</td></tr>"
        b"<tr><td>no end tag<td>kept</tr></table><p>after</p>"
    )
    found = partition("page.html", html)
    assert [(e.type, e.text) for e in found] == [
        ("NarrativeText", "before"),
        ("NarrativeText", "Opening times"),
        ("Table", "Day Hours\nSaturday first second\none two head -\nno end tag kept"),
        ("NarrativeText", "after"),  # a heading inside a cell made nothing after the table a title
    ]
    assert "<td>first second</td>" in found[2].metadata["text_as_html"]


def test_an_html_paragraph_with_line_breaks_is_one_element() -> None:
    html = (
        b"<p>Open <b>every</b> day.<br>Call us.<br/>\n  Or write.</p><address>Line one<br>MB1 2CD</address>"
        b"<div>Old style.<br> <br>\nNext.<br></div>"
    )
    assert texts("page.html", html) == [
        ("NarrativeText", "Open every day.\nCall us.\nOr write."),
        ("NarrativeText", "Line one\nMB1 2CD"),
        ("NarrativeText", "Old style.\n\nNext."),
    ]


def test_html_pre_keeps_its_lines() -> None:
    html = b"<p>Run:</p><pre><code>for x in y:\n    print(x)\n\nDone</code></pre><p>then.</p>"
    assert texts("page.html", html) == [
        ("NarrativeText", "Run:"),
        ("NarrativeText", "for x in y:\n    print(x)\n\nDone"),
        ("NarrativeText", "then."),
    ]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param(
            "page.html",
            b"<h1>Book</h1><h2>Part</h2><h3>Chapter</h3><p>Some text.</p><h2>Next part</h2><p>More text.</p>",
            id="html",
        ),
        pytest.param(
            "notes.md",
            b"# Book\n\n## Part\n\n### Chapter\n\nSome text.\n\nNext part\n---------\n\nMore text.\n",
            id="markdown",
        ),
    ],
)
def test_headings_nest_by_level(name: str, content: bytes) -> None:
    found = partition(name, content)
    by_text = {e.text: e for e in found}
    depth = {e.text: e.metadata.get("category_depth") for e in found}
    assert depth == {
        "Book": 0,
        "Part": 1,
        "Chapter": 2,
        "Some text.": None,
        "Next part": 1,
        "More text.": None,
    }

    def parent(text: str) -> str | None:
        return by_text[text].metadata.get("parent_id")

    assert parent("Book") is None
    assert parent("Part") == parent("Next part") == by_text["Book"].element_id
    assert parent("Chapter") == by_text["Part"].element_id
    assert parent("Some text.") == by_text["Chapter"].element_id
    assert parent("More text.") == by_text["Next part"].element_id


def test_a_markdown_code_fence_is_one_element_with_its_indentation() -> None:
    markdown = (
        b"Intro.\n\n```python\ndef f():\n    return 1\n\n# not a heading\n```\n\n"
        b"- item\n\n  ~~~\n  indented fence\n    deeper\n  ~~~\n\nEnd.\n\n```\nnever closed\n"
    )
    assert texts("code.md", markdown) == [
        ("NarrativeText", "Intro."),
        ("NarrativeText", "def f():\n    return 1\n\n# not a heading"),
        ("ListItem", "item"),
        ("NarrativeText", "indented fence\n  deeper"),
        ("NarrativeText", "End."),
        ("NarrativeText", "never closed"),
    ]


def test_tei_line_breaks_keep_words_apart() -> None:
    tei = b'<TEI><text><body><p>the mill.<lb/>Yours, at Mill<lb break="no"/>brook</p></body></text></TEI>'
    assert texts("letter.xml", tei) == [("NarrativeText", "the mill. Yours, at Millbrook")]


@pytest.mark.parametrize("encoding", ["Shift_JIS", "EUC-JP", "GB2312", "Big5", "EUC-KR"])
def test_xml_in_a_multi_byte_encoding_is_decoded(encoding: str) -> None:
    text = {"GB2312": "会议纪要", "Big5": "會議紀要", "EUC-KR": "회의록"}.get(encoding, "議事録")
    xml = f'<?xml version="1.0" encoding="{encoding}"?><record><p>{text} 2024</p></record>'
    assert texts("record.xml", xml.encode(encoding)) == [("NarrativeText", f"{text} 2024")]


def test_xml_with_a_multi_byte_encoding_keeps_its_protections() -> None:
    xml = '<?xml version="1.0" encoding="Shift_JIS"?><!DOCTYPE d [<!ENTITY x "議">]><d>&x;</d>'
    with pytest.raises(ProcessingError, match="the XML declares entities"):
        partition("bomb.xml", xml.encode("shift_jis"))


def test_xml_not_in_its_declared_encoding_says_which() -> None:
    xml = '<?xml version="1.0" encoding="Shift_JIS"?><d>議事録</d>'.encode("shift_jis") + b"\x82"
    with pytest.raises(ProcessingError, match="declares the encoding 'Shift_JIS' but is not in it"):
        partition("record.xml", xml)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_text_without_a_bom_is_read(encoding: str) -> None:
    text = "Notes on the mill\n\nThe wheel turns — slowly, at 12 rpm; the café is open.\n"
    assert texts("notes.txt", text.encode(encoding)) == [
        ("Title", "Notes on the mill"),
        ("NarrativeText", "The wheel turns — slowly, at 12 rpm; the café is open."),
    ]


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param(b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}}\\f0 Dear Sir,\\par}", "RTF", id="rtf"),
        pytest.param(b"%!PS-Adobe-3.0\n%%Pages: 1\nshowpage\n", "PostScript", id="postscript"),
        pytest.param(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(64), "a PNG image", id="png"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "a legacy Office file", id="ole2"),
        pytest.param(b"PK\x03\x04" + bytes(64), "a zip archive", id="zip"),
        pytest.param(
            b"PK\x03\x04" + bytes(26) + b"mimetypeapplication/vnd.oasis.opendocument.text",
            "an OpenDocument file",
            id="odt",
        ),
        pytest.param(bytes(range(256)) * 4, "binary content of an unknown type", id="unknown"),
    ],
)
def test_an_unsupported_format_is_named(content: bytes, named: str) -> None:
    with pytest.raises(
        ProcessingError, match=f"not a supported document format: {named}.*--skip-unsupported"
    ):
        partition("letter.txt", content)
    with pytest.raises(SkipItem, match=named):
        partition("letter.txt", content, skip_unsupported=True)


def test_a_calendar_is_read_as_text() -> None:
    """Not understood, but its words are readable (as an mbox's are): text, not refused."""
    ics = b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Board meeting\nEND:VEVENT\nEND:VCALENDAR\n"
    assert "SUMMARY:Board meeting" in partition("event.ics", ics)[0].text
