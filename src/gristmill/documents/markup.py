"""HTML, generic XML and METS/MODS.

XML goes through defusedxml: a document that declares entities (an external one that would
read a file or a URL, or an expansion bomb) is refused before anything is expanded.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from xml.etree.ElementTree import Element as XmlElement
from xml.etree.ElementTree import ParseError

from gristmill._exceptions import ProcessingError
from gristmill.documents.elements import Elements
from gristmill.documents.text import decode, paragraphs

BLOCKS = {"p", "div", "section", "article", "blockquote", "pre", "dd", "dt", "figcaption", "address"}
SKIP = {"script", "style", "noscript", "template", "title"}  # a page's <title> is its name, not its text
HEAD = {"head", "title", "meta", "link", "base", "script", "style", "noscript", "template"}  # others end it
METS = "{http://www.loc.gov/METS/}"
MODS = "{http://www.loc.gov/mods/v3}"
XLINK = "{http://www.w3.org/1999/xlink}"


class _Html(HTMLParser):
    """Collects block texts as elements, in document order."""

    def __init__(self, out: Elements) -> None:
        super().__init__(convert_charrefs=True)
        self.out = out
        self.text: list[str] = []
        self.kind = "NarrativeText"
        self.skipping = 0
        self.head = False  # in <head>, which any body tag ends too (HTML5 lets </head> out)
        self.lists: list[bool] = []  # per open <ul>/<ol>: whether one of its items is open
        self.nested = 0  # tables inside a table's cell: their text goes into that cell
        self.region: list[str] = []  # header / footer we are in
        self.table: list[list[str]] | None = None
        self.cell: list[str] | None = None
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
        elif tag in ("header", "footer"):
            self.flush()
            self.region.append(tag)
        elif tag == "table" and self.table is not None:
            self.nested += 1
        elif tag == "table":
            self.flush()
            self.table = []
        elif tag in ("tr", "td", "th") and self.nested:
            self.handle_data(" ")
        elif tag == "tr" and self.table is not None:
            self.table.append([])
        elif tag in ("td", "th") and self.table is not None:
            self.cell = []
        elif tag in ("ul", "ol"):
            self.lists.append(False)
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6", "li", "br") or tag in BLOCKS:
            self.flush()
            self.kind = (
                "Title" if tag[0] == "h" and tag[1:].isdigit() else "ListItem" if tag == "li" else self.kind
            )
            if tag == "li" and self.lists:
                self.lists[-1] = True
        elif tag == "img":
            alt = dict(attrs).get("alt") or ""
            self.out.add("Image", alt, image_url=dict(attrs).get("src"))

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "head":
            self.head = False
        elif tag == "table" and self.nested:
            self.nested -= 1
        elif tag in ("td", "th") and self.nested:
            self.handle_data(" ")
        elif tag in ("td", "th") and self.table is not None and self.cell is not None:
            if self.table:
                self.table[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table" and self.table is not None:
            rows, self.table = self.table, None
            self.out.table(rows)
        elif tag in ("header", "footer"):
            self.flush()
            if self.region:
                self.region.pop()
        elif tag in ("ul", "ol") and self.lists:
            self.flush()
            self.lists.pop()
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6", "li") or tag in BLOCKS:
            self.flush()
            if tag == "li" and self.lists:
                self.lists[-1] = False

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
        text = " ".join("".join(self.text).split())
        self.text = []
        kind, self.kind = self.kind, "NarrativeText"
        if not text:
            return
        if kind == "NarrativeText" and self.lists and self.lists[-1]:
            kind = "ListItem"  # a paragraph inside a list item: <li><p>text</p></li>
        if self.region:
            kind = "Header" if self.region[-1] == "header" else "Footer"
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
        root: XmlElement = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ProcessingError(
            f"the XML declares entities ({exc}); refused: entities are never expanded nor fetched"
        ) from None
    except ParseError as exc:
        raise ProcessingError(f"invalid XML: {exc}") from None
    return root


def partition_xml(data: bytes, out: Elements) -> None:
    root = parse_xml(data)
    if root.tag == f"{METS}mets":
        _mets(root, out)
        return
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
