"""Plain text and Markdown: decoding (any encoding), paragraphs, titles, list items."""

from __future__ import annotations

import re

from gristmill._exceptions import ProcessingError
from gristmill.documents.elements import Elements

BULLET = re.compile(r"^\s*(?:[-*•‣◦]|\d{1,3}[.)])\s+(.*)$")
COMMENT = re.compile(r"<!--.*?-->", re.S)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
UNDERLINE = re.compile(r"^ {0,3}(=+|-+)\s*$")  # a setext heading's: "Title\n=====", "Sub\n-----"
WESTERN = ("cp1252", "latin_1", "iso8859_15")
NEAR_TIE = 0.1
UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")  # before UTF-16's: the first begins alike
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")  # a Markdown code fence: ``` or ~~~, perhaps indented


def decode(data: bytes) -> str:
    """The text of DATA in whatever encoding it is in (UTF-8 first: it is most files)."""
    if data.startswith(UTF32_BOMS):
        return data.decode("utf-32", errors="replace")
    if data.startswith(UTF16_BOMS):
        return data.decode("utf-16", errors="replace")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    utf16 = utf16_without_bom(data)
    if utf16:
        return data.decode(utf16, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    found = from_bytes(data)
    best = found.best()
    if best is None:
        raise ProcessingError("the file is binary, not text in any encoding it could be read in")
    # Short texts fit several 8-bit encodings about as well: the most common one wins a near tie.
    for match in found:
        if match.encoding in WESTERN and match.chaos <= best.chaos + NEAR_TIE:
            return str(match)
    return str(best)


def utf16_without_bom(data: bytes) -> str | None:
    """The encoding ("utf-16-le" or "utf-16-be") of UTF-16 text that has no BOM, as some
    Windows tools write it; None for other data. Text in a Latin script is ASCII-like bytes with a NUL beside
    each: at odd offsets in little-endian, at even ones in big-endian. UTF-8 decoding would
    take it (NUL is valid UTF-8) and charset-normalizer is never asked (the NULs look binary)."""
    head = data[: 4096 & ~1]
    if len(head) < 4 or b"\0" not in head:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    if odd > half / 2 and even < half / 100:  # a few even NULs: U+0100, U+2000...
        encoding = "utf-16-le"
    elif even > half / 2 and odd < half / 100:
        encoding = "utf-16-be"
    else:
        return None
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError:  # a lone surrogate: not UTF-16 after all
        return None
    return encoding if not _controls(text.encode()) else None


def _controls(head: bytes) -> bool:
    """Many control characters (the escape of terminal colours is text)."""
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls > len(head) * 0.05


def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 4 KB (UTF-16 and UTF-32 have a
    BOM, or the look of UTF-16 without one)."""
    head = data[:4096]
    if head.startswith(UTF32_BOMS + UTF16_BOMS) or utf16_without_bom(head):
        return False
    return b"\0" in head or _controls(head)


def paragraphs(text: str, out: Elements, *, page: int | None = None, leading_titles: bool = False) -> None:
    """Blank-line separated blocks: bullet lines become list items, a short line without
    closing punctuation a title, the rest narrative text. With ``leading_titles`` (text
    from a PDF, where blank lines are lost), a block's title-like first line is a title."""
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if leading_titles and len(lines) > 1 and _is_title(lines[0]) and not BULLET.match(lines[0]):
            out.add("Title", lines.pop(0), page=page)
        if not lines:
            continue
        if all(BULLET.match(line) for line in lines):
            for line in lines:
                out.add("ListItem", BULLET.match(line).group(1), page=page)  # type: ignore[union-attr]
        elif len(lines) == 1 and _is_title(lines[0]):
            out.add("Title", lines[0], page=page)
        else:
            out.add("NarrativeText", " ".join(lines), page=page)


def _is_title(line: str) -> bool:
    return len(line) <= 80 and line[-1] not in ".,;:!?" and any(c.isalpha() for c in line)


def partition_text(data: bytes, out: Elements) -> None:
    paragraphs(decode(data), out)


def partition_markdown(data: bytes, out: Elements) -> None:
    text = COMMENT.sub("", decode(data).replace("\r\n", "\n"))  # <!-- notes --> are not text
    block: list[str] = []
    table: list[list[str]] = []
    code: list[str] = []
    fence: re.Match[str] | None = None  # the open code fence: its indentation and marker

    def flush() -> None:
        if block:
            paragraphs("\n".join(block), out)
            block.clear()
        if table:
            out.table(table)
            table.clear()

    for line in text.split("\n"):
        if fence is not None:  # a code block is one element, its lines and indentation kept
            if line.strip().startswith(fence[2]):
                out.add("NarrativeText", "\n".join(code).rstrip())
                code.clear()
                fence = None
            else:
                indent = fence[1]  # the fence's own indentation is not the code's
                code.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            continue
        heading, underline, fence = HEADING.match(line), UNDERLINE.match(line), FENCE.match(line)
        if fence:
            flush()
        elif heading:
            flush()
            out.add("Title", heading.group(2), category_depth=len(heading.group(1)) - 1)
        elif underline and block:  # the paragraph above is a heading
            depth = 0 if underline[1][0] == "=" else 1
            out.add("Title", " ".join(part.strip() for part in block), category_depth=depth)
            block.clear()
        elif line.strip().startswith("|"):
            if block:
                flush()
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells):  # the header's underline
                table.append(cells)
        elif BULLET.match(line):
            flush()
            out.add("ListItem", BULLET.match(line).group(1))  # type: ignore[union-attr]
        elif not line.strip():
            flush()
        else:
            if table:
                flush()
            block.append(line)
    out.add("NarrativeText", "\n".join(code).rstrip())  # a fence never closed runs to the end
    flush()
