"""HTML, generic XML and METS/MODS.

XML goes through defusedxml: a document that declares entities (an external one that would
read a file or a URL, or an expansion bomb) is refused before anything is expanded.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from typing import Any
from xml.etree.ElementTree import Element as XmlElement
from xml.etree.ElementTree import ParseError

from gristmill._exceptions import ProcessingError
from gristmill.documents.elements import Elements
from gristmill.documents.text import decode, paragraphs

BLOCKS = {"p", "div", "section", "article", "blockquote", "pre", "dd", "dt", "figcaption", "address"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
APART = BLOCKS | HEADINGS | {"li", "br", "tr", "td", "th"}  # inside a table's cell: their words stay apart
SKIP = {"script", "style", "noscript", "template", "title"}  # a page's <title> is its name, not its text
HEAD = {"head", "title", "meta", "link", "base", "script", "style", "noscript", "template"}  # others end it
BLANK_LINES = re.compile(r"\n{3,}")
METS = "{http://www.loc.gov/METS/}"
MODS = "{http://www.loc.gov/mods/v3}"
XLINK = "{http://www.w3.org/1999/xlink}"
SAFE = {"forbid_dtd": False, "forbid_entities": True, "forbid_external": True}  # what defusedxml refuses
DECLARED_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
# What files labelled with these names hold in practice (as browsers read them, per WHATWG):
# Shift_JIS files hold Windows' extensions, GB2312 files GBK's characters...
SUPERSETS = {
    "shift_jis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}
BREAKS = {"lb", "br", "cb", "pb", "sbr"}  # line, column and page breaks: TEI, DocBook, XHTML


class _Html(HTMLParser):
    """Collects block texts as elements, in document order."""

    def __init__(self, out: Elements) -> None:
        super().__init__(convert_charrefs=True)
        self.out = out
        self.lines: list[str] = []  # the lines of the block being read before a <br>, tidied
        self.text: list[str] = []  # the text of the block (of its line) being read
        self.kind = "NarrativeText"
        self.depth = 0  # of the heading being read: h1 0, h2 1...
        self.pre = 0  # <pre> blocks we are in
        self.skipping = 0
        self.head = False  # in <head>, which any body tag ends too (HTML5 lets </head> out)
        self.lists: list[bool] = []  # per open <ul>/<ol>: whether one of its items is open
        self.nested = 0  # tables inside a table's cell: their text goes into that cell
        self.region: list[str] = []  # header / footer we are in
        self.table: list[list[str]] | None = None
        self.cell: list[str] | None = None  # the text of a cell, or of the table's <caption>
        self.caption = False  # whether that is the caption
        self.language: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HEAD:
            self.head = False
        if tag in SKIP:
            self.skipping += 1
        elif tag == "head":
            self.head = True
        elif tag == "html":
            self.language = dict(attrs).get("lang") or None
            if self.language:
                self.out.metadata["languages"] = [self.language]
        elif tag == "img":
            alt = dict(attrs).get("alt") or ""
            self.out.add("Image", alt, image_url=dict(attrs).get("src"))
        elif self.table is not None:
            self._table_starttag(tag, self.table)
        elif tag in ("header", "footer"):
            self.flush()
            self.region.append(tag)
        elif tag == "table":
            self.flush()
            self.table = []
        elif tag in ("ul", "ol"):
            self.lists.append(False)
        elif tag == "br" and self.pre:
            self.text.append("\n")
        elif tag == "br":  # a line of the paragraph: the paragraph goes on
            self.lines.append(" ".join("".join(self.text).split()))
            self.text = []
        elif tag in HEADINGS or tag == "li" or tag in BLOCKS:
            self.flush()
            if tag in HEADINGS:
                self.kind, self.depth = "Title", int(tag[1]) - 1
            elif tag == "li":
                self.kind = "ListItem"
                if self.lists:
                    self.lists[-1] = True
            if tag == "pre":
                self.pre += 1

    def _table_starttag(self, tag: str, table: list[list[str]]) -> None:
        if tag == "table":
            self.nested += 1
        elif self.nested or tag not in ("tr", "td", "th", "caption"):
            if tag in APART:
                self.handle_data(" ")
        else:
            self._end_cell(table)  # HTML lets </td> and </tr> out
            if tag == "tr":
                table.append([])
            else:
                self.cell, self.caption = [], tag == "caption"

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "head":
            self.head = False
        elif self.table is not None:
            self._table_endtag(tag, self.table)
        elif tag in ("header", "footer"):
            self.flush()
            if self.region:
                self.region.pop()
        elif tag in ("ul", "ol") and self.lists:
            self.flush()
            self.lists.pop()
        elif tag in HEADINGS or tag == "li" or tag in BLOCKS:
            self.flush()
            if tag == "li" and self.lists:
                self.lists[-1] = False
            if tag == "pre" and self.pre:
                self.pre -= 1

    def _table_endtag(self, tag: str, table: list[list[str]]) -> None:
        if tag == "table" and self.nested:
            self.nested -= 1
        elif self.nested or tag not in ("td", "th", "caption", "table"):
            if tag in APART:
                self.handle_data(" ")
        else:
            self._end_cell(table)
            if tag == "table":
                self.table = None
                self.out.table(table)

    def _end_cell(self, table: list[list[str]]) -> None:
        if self.cell is None:
            return
        text = " ".join("".join(self.cell).split())
        self.cell = None
        if self.caption:  # the table's title: an element just before the table
            self.out.add("NarrativeText", text)
        elif table:
            table[-1].append(text)
        else:
            table.append([text])  # a cell with no <tr>

    def handle_data(self, data: str) -> None:
        if self.head and not self.skipping and data.strip():
            self.head = False  # text ends the head, as a body tag does
        if self.skipping or self.head:
            return
        if self.cell is not None:
            self.cell.append(data)
        elif self.table is None:
            self.text.append(data)

    def flush(self) -> None:
        text = "".join(self.text)
        if self.pre:
            text = text.replace("\r\n", "\n")
        elif self.lines:  # <br> a line break, <br><br> a blank line
            text = BLANK_LINES.sub("\n\n", "\n".join([*self.lines, " ".join(text.split())]))
        else:
            text = " ".join(text.split())
        self.text, self.lines = [], []
        kind, self.kind = self.kind, "NarrativeText"
        if not text.strip():
            return
        if kind == "NarrativeText" and self.lists and self.lists[-1]:
            kind = "ListItem"  # a paragraph inside a list item: <li><p>text</p></li>
        if self.region:
            kind = "Header" if self.region[-1] == "header" else "Footer"
        if kind == "Title":
            self.out.add("Title", text, category_depth=self.depth)
        else:
            self.out.add(kind, text)


def partition_html(data: bytes, out: Elements) -> None:
    parser = _Html(out)
    parser.feed(decode(data))
    parser.close()
    parser.flush()


def parse_xml(data: bytes) -> XmlElement:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        try:
            root: XmlElement = fromstring(data, **SAFE)
        except DefusedXmlException:
            raise  # a ValueError too: not the one below
        except ValueError as exc:  # "multi-byte encodings are not supported" (expat): Shift_JIS, GB2312...
            root = fromstring(_decode_declared(data, exc), **SAFE)  # text: expat ignores the declaration
    except DefusedXmlException as exc:
        raise ProcessingError(
            f"the XML declares entities ({exc}); refused: entities are never expanded nor fetched"
        ) from None
    except ParseError as exc:
        raise ProcessingError(f"invalid XML: {exc}") from None
    return root


def _decode_declared(data: bytes, error: ValueError) -> str:
    """DATA decoded in the encoding its XML declaration names, which expat could not read."""
    declared = DECLARED_ENCODING.match(data)
    if declared is None:
        raise ProcessingError(f"invalid XML: {error}") from None
    name = declared[1].decode("ascii")
    try:
        codec = codecs.lookup(name).name
        return data.decode(SUPERSETS.get(codec, codec))
    except LookupError:
        raise ProcessingError(f"the XML declares the encoding {name!r}, which is unknown") from None
    except UnicodeDecodeError as exc:
        raise ProcessingError(
            f"the XML declares the encoding {name!r} but is not in it (byte {exc.start}: {exc.reason}); "
            "correct the declaration or re-encode the file"
        ) from None


def partition_xml(data: bytes, out: Elements) -> None:
    root = parse_xml(data)
    if root.tag == f"{METS}mets":
        _mets(root, out)
        return
    for node in root.iter():  # a line break between two words keeps them apart: TEI's mill.<lb/>Yours
        if isinstance(node.tag, str) and _local(node.tag) in BREAKS and node.get("break") != "no":
            node.tail = " " + (node.tail or "")
    nodes = [root]
    while nodes:  # a stack, not recursion: XML may nest deeper than Python recurses
        node = nodes.pop()
        children = [child for child in node if isinstance(child.tag, str)]
        if children and not _has_text(node):
            nodes.extend(reversed(children))  # a container of blocks: each child in turn
            continue
        # a block: its text with its inline children's (TEI, DocBook: <p>Hello <b>bold</b> world</p>)
        kind = "Title" if _local(node.tag).lower() in ("title", "heading", "head") else "NarrativeText"
        out.add(kind, " ".join("".join(node.itertext()).split()), xml_tag=_local(node.tag))


def _has_text(node: XmlElement) -> bool:
    """Whether NODE holds text of its own, before or between its children (mixed content)."""
    return any(text and text.strip() for text in (node.text, *(child.tail for child in node)))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def mets_summary(root: XmlElement) -> dict[str, Any]:
    """The descriptive metadata, file groups and structure of a METS document."""
    mods = root.find(f".//{MODS}mods")

    def texts(path: str) -> list[str]:
        found = mods.findall(path) if mods is not None else []
        return [" ".join(n.text.split()) for n in found if n.text and n.text.strip()]

    groups = {
        group.get("USE") or group.get("ID") or "files": len(group.findall(f"{METS}file"))
        for group in root.iter(f"{METS}fileGrp")
    }
    pages = [d for d in root.iter(f"{METS}div") if (d.get("TYPE") or "").lower() == "page"]
    return {
        "identifier": (texts(f"{MODS}identifier") or [root.get("OBJID") or ""])[0],
        "title": " ".join(texts(f"{MODS}titleInfo/{MODS}title")),
        "creators": texts(f".//{MODS}name/{MODS}namePart"),
        "date": (texts(f".//{MODS}originInfo/{MODS}dateIssued") or [""])[0],
        "file_groups": groups,
        "files": sum(groups.values()),
        "pages": len(pages),
    }


def _mets(root: XmlElement, out: Elements) -> None:
    summary = mets_summary(root)
    terms = list(root.iter(f"{MODS}languageTerm"))
    codes = [t for t in terms if t.get("type") == "code"] or terms  # "eng" rather than "English"
    languages = [" ".join(t.text.split()) for t in codes if t.text and t.text.strip()]
    if languages:
        out.metadata["languages"] = languages
    out.document["mets"] = summary
    out.add("Title", summary["title"] or summary["identifier"], mets=summary)
    for creator in summary["creators"]:
        out.add("NarrativeText", creator, category="creator")
    if summary["date"]:
        out.add("NarrativeText", summary["date"], category="date")
    # full text carried inside the METS file (FContent), page by page where it says so
    for number, content in enumerate(root.iter(f"{METS}FContent"), 1):
        data = content.find(f"{METS}xmlData")
        text = " ".join(
            t.strip() for t in (data.itertext() if data is not None else content.itertext()) if t.strip()
        )
        if text:
            paragraphs(text, out, page=number)
