"""PDF text, page by page, with pypdfium2 (PDFium: fast, and it tells a damaged file from
an encrypted one).

PDFium gives a page's text as lines, with no blank line between paragraphs; each line's
position and font size, read from its first, middle and last characters, tell where a
paragraph ends (a wider gap, a change of size, an indented or a bullet line, a short line
before a long one) and which one is a heading (a larger or bold font). A short line repeated at
the top or the bottom of many pages (page numbers aside) is a running header or footer.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gristmill._exceptions import ProcessingError
from gristmill.documents.elements import Elements, Unsupported

# a bullet glyph (• ◦ ▪ ● ○ ■ □ ► ➢ ✓ · *, a hyphen or a dash) or a number ("1." "(2)")
BULLET = re.compile(r"^(?:[•◦▪▫‣●○■□◆◇►▶➢➤✓✔∙·*\u2043\u2013\u2014-]|\(?\d{1,3}[.)])(?:\s+|$)")
# a front-matter page number: "iv" (not any word of these letters: "mill", "dim")
ROMAN = re.compile(
    r"^(?=[ivxlcdm])m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})$", re.IGNORECASE
)
ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
CONTROLS = re.compile(r"[\x00-\x1f\ufffe]")  # \x02 and \ufffe: a soft hyphen; \r: TeX's ©
TITLE_END = ".,;:!"
BOLD = re.compile(rb"Bold|Black|Heavy")
HEADING_LINE = 80  # characters, at most, in a heading's first line
MOST = 0.4  # a running line is on this share of the pages with text, or more (odd or even pages)
RUNNING_PAGES = 3  # ... and on this many pages at least (on a two-page document: on both)
RUNNING_LINE = 70  # characters, at most, in a running line
SET_APART = 2.5  # a heading in the body font is followed by this many lines' space, or more


@dataclass(slots=True)
class Line:
    text: str
    left: float
    right: float
    base: float  # the bottom of the first character's box: the same for every line of a font
    size: float
    bold: bool
    kind: str = ""  # "Header" or "Footer" for a running line


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
        pages = [_page_lines(pdf[index]) for index in range(len(pdf))]
    finally:
        pdf.close()
    if not any(pages):
        raise Unsupported(
            "no text layer on any page (a scanned document?): it needs OCR, which gristmill does not do"
        )
    sizes: Counter[float] = Counter()
    for line in itertools.chain.from_iterable(pages):
        sizes[round(line.size, 1)] += len(line.text)
    body_size = _mode(sizes, 10.0)
    gaps = [_pitch(a, b) for lines in pages for a, b in itertools.pairwise(lines)]
    pitch = _mode([gap for gap in gaps if gap < 2.5], 1.2)  # within a paragraph: up to double spacing
    _mark_running_lines(pages, body_size, pitch)
    for index, lines in enumerate(pages):
        if index:
            out.page_break(index + 1)
        for line in lines:
            if line.kind == "Header":
                out.add("Header", line.text, page=index + 1)
        _emit(_paragraphs([line for line in lines if not line.kind], pitch), out, index + 1, body_size, pitch)
        for line in lines:
            if line.kind == "Footer":
                out.add("Footer", line.text, page=index + 1)


def _page_lines(page: Any) -> list[Line]:
    """The lines of PAGE in PDFium's order, each with its place and font."""
    from pypdfium2 import raw

    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        same = len(text) == textpage.count_chars()  # else map each text index to its character's
        box, name = raw.FS_RECTF(), ctypes.create_string_buffer(64)

        def char(at: int) -> int:
            return at if same else max(raw.FPDFText_GetCharIndexFromTextIndex(textpage, at), 0)

        def size(index: int) -> float:
            return float(raw.FPDFText_GetFontSize(textpage, index))

        lines, start = [], 0
        for raw_line in text.split("\r\n"):
            clean = _clean(raw_line)
            if clean.strip("\x02"):
                lead, end = len(raw_line) - len(raw_line.lstrip()), len(raw_line.rstrip())
                middle = (lead + end) // 2
                middle += raw_line[middle] == " "  # a space PDFium put between words has no size
                first, middle, last = char(start + lead), char(start + middle), char(start + end - 1)
                raw.FPDFText_GetLooseCharBox(textpage, last, box)
                right = box.right
                raw.FPDFText_GetLooseCharBox(textpage, first, box)
                # the middle's size: a bullet or an initial is often set larger or smaller
                line_size = size(middle) or size(first)
                # only a short line may be a heading; TeX's bold (CMBX) weighs 545
                bold = len(clean) <= HEADING_LINE and raw.FPDFText_GetFontWeight(textpage, first) > 500
                if len(clean) <= HEADING_LINE and not bold:  # the weight is often unset: the name says it
                    raw.FPDFText_GetFontInfo(textpage, first, name, 64, None)
                    bold = BOLD.search(name.value) is not None
                lines.append(Line(clean, box.left, right, box.bottom, line_size, bold))
            start += len(raw_line) + 2
        return lines
    finally:
        textpage.close()
        page.close()


def _clean(line: str) -> str:
    """LINE without control characters; a soft hyphen at its end (PDFium's \\x02 or \\ufffe)
    becomes a bare \\x02, so the word is joined whole to the next line's start."""
    line = line.strip()
    if line.endswith(("\x02", "\ufffe")):
        return _clean(line[:-1]) + "\x02"
    return CONTROLS.sub("", line.replace("\t", " ")).strip() if CONTROLS.search(line) else line


def _mark_running_lines(pages: list[list[Line]], body_size: float, pitch: float) -> None:
    """Marks the lines at the top (bottom) of a page that recur there, their numbers aside
    ("Page 3", "iv"), as Header (Footer).

    Body text often recurs too (a templated first sentence, a last list item, a total), so a
    running line is short, in the body font or smaller, set apart from the text beside it (not
    a paragraph's first or last line), never a list item, and on RUNNING_PAGES pages and MOST of
    them; where its numbers differ from page to page they count the pages. A number alone there
    is a page number only among others that count the pages.
    """
    with_text = sum(1 for lines in pages if lines)
    if with_text < 2:
        return
    needed = 2 if with_text == 2 else max(RUNNING_PAGES, math.ceil(with_text * MOST))
    for kind in ("Header", "Footer"):
        top = kind == "Header"
        found: dict[str, list[tuple[int, Line]]] = {}
        for index, lines in enumerate(pages):
            for line in _outermost(lines, top):
                key = _running_key(line.text)
                if not line.kind and _may_run(line, key, lines, top, body_size, pitch):
                    found.setdefault(key, [])
                    if not found[key] or found[key][-1][0] != index:  # once a page
                        found[key].append((index, line))
        for key, places in found.items():
            indexes = [index for index, _ in places]
            # a "#" in the text itself may leave a line short of numbers: then none are compared
            columns = zip(*(_numbers(line.text) for _, line in places), strict=False)
            numbering = {_numbering(indexes, values) for values in columns}
            alone = re.search(r"\w", key) is None  # a number alone: "12", "- 12 -"
            if "" in numbering or (alone and "pages" not in numbering):
                continue
            if len(places) >= (min(RUNNING_PAGES, with_text) if "pages" in numbering else needed):
                for at, (_, line) in enumerate(places):
                    if not alone or _in_sequence(places, at):
                        line.kind = kind


def _outermost(lines: list[Line], top: bool) -> list[Line]:
    """The lines at the very top (bottom) of a page: on the same baseline, "© Society   Page 3"."""
    if not lines:
        return []
    edge = max(line.base for line in lines) if top else min(line.base for line in lines)
    return [line for line in lines if abs(line.base - edge) < 1]


def _running_key(text: str) -> str:
    """TEXT with each number as "#": "Page 3 of 9" and "Page 4 of 9" recur as "Page # of #"."""
    return " ".join("#" if ROMAN.match(word) else re.sub(r"\d+", "#", word) for word in text.split())


def _may_run(line: Line, key: str, lines: list[Line], top: bool, body_size: float, pitch: float) -> bool:
    """Whether LINE, at the top (bottom) of its page, may be a running line: short, not large,
    not a list item ("- 3 -" is a page number), not run on from (into) the line beside it."""
    if len(line.text) > RUNNING_LINE or line.size > body_size * 1.1:
        return False
    if BULLET.match(line.text) and re.search(r"[^\W#]", key):
        return False
    inward = [other for other in lines if (other.base < line.base - 1 if top else other.base > line.base + 1)]
    if not inward:
        return True
    beside = max(inward, key=lambda other: other.base) if top else min(inward, key=lambda other: other.base)
    above, below = (line, beside) if top else (beside, line)
    return _breaks([above], below, pitch)


def _numbers(text: str) -> list[int]:
    """The numbers in TEXT, in the order _running_key puts a "#" for each."""
    values: list[int] = []
    for word in text.split():
        if ROMAN.match(word):
            values.append(_roman(word))
        else:
            values.extend(int(digits[:9]) for digits in re.findall(r"\d+", word))
    return values


def _roman(word: str) -> int:
    digits = [ROMAN_VALUES[letter] for letter in word.lower()]
    return sum(
        -value if value < after else value for value, after in zip(digits, [*digits[1:], 0], strict=True)
    )


def _numbering(indexes: list[int], values: tuple[int, ...]) -> str:
    """What the numbers in one place of a recurring line, on the pages at INDEXES, are: "same"
    on most pages ("© 2024", "Chapter 4"), "pages" where they go up with the pages ("Page 7"),
    else "" (a total: "Invoice total: 300 EUR")."""
    if len(set(values)) <= max(1, len(values) // 4):
        return "same"
    steps = list(zip(itertools.pairwise(indexes), itertools.pairwise(values), strict=True))
    return "pages" if 3 * sum(b - a == y - x for (a, b), (x, y) in steps) >= 2 * len(steps) else ""


def _in_sequence(places: list[tuple[int, Line]], at: int) -> bool:
    """Whether the number alone at PLACES[AT] goes up with the pages from a neighbour's; a
    roman one (front matter's) may stand alone."""
    index, line = places[at]
    if ROMAN.match(line.text.strip("-\u2013\u2014 ")):
        return True
    number = _numbers(line.text)[0]
    return any(
        _numbers(other.text)[0] - number == other_index - index
        for other_index, other in places[max(at - 1, 0) : at + 2]
        if other is not line
    )


def _pitch(above: Line, below: Line) -> float:
    """The distance between two lines' baselines, in font sizes."""
    return round((above.base - below.base) / max(below.size, 1), 1)


def _mode(values: Iterable[float] | Counter[float], default: float) -> float:
    counted = values if isinstance(values, Counter) else Counter(values)
    return next((value for value, _ in counted.most_common() if value > 0), default)


def _paragraphs(lines: list[Line], pitch: float) -> list[list[Line]]:
    paragraphs: list[list[Line]] = []
    for line in lines:
        current = paragraphs[-1] if paragraphs else None
        if current is None or _breaks(current, line, pitch):
            paragraphs.append([line])
        else:
            current.append(line)
    return paragraphs


def _breaks(paragraph: list[Line], line: Line, pitch: float) -> bool:
    """Whether LINE starts a new paragraph after PARAGRAPH."""
    above = paragraph[-1]
    if BULLET.match(line.text) or BULLET.fullmatch(above.text):
        return not BULLET.fullmatch(above.text)  # a bullet alone on its line belongs to the next
    if abs(above.size - line.size) > 0.1 * max(above.size, line.size):
        return True
    gap = _pitch(above, line)
    if gap <= 0 or gap > pitch * 1.25 + 0.05:  # more space than between a paragraph's lines, or a column
        return True
    in_list = BULLET.match(paragraph[0].text) is not None
    centred = abs(line.left + line.right - above.left - above.right) < 2 * line.size
    if not in_list and not centred and line.left > min(paragraph[0].left, above.left) + line.size:
        return True  # an indented first line
    # A short line ends its paragraph: short beside the lines around it, so columns do not matter.
    left = min(p.left for p in (line, *paragraph[-2:]))
    right = max(p.right for p in (line, *paragraph[-2:-1]))
    short = above.right < right - 0.25 * (right - left)
    if not short or above.text.endswith(("\x02", "-")):
        return False
    return above.text[-1] in ".!?:;)\"'\u201d" or not line.text[0].islower()  # else a long word came next


def _emit(paragraphs: list[list[Line]], out: Elements, page: int, body_size: float, pitch: float) -> None:
    for number, paragraph in enumerate(paragraphs):
        text = _join(paragraph)
        first = paragraph[0]
        after = paragraphs[number + 1][0] if number + 1 < len(paragraphs) else None
        if BULLET.match(first.text) and first.size <= body_size * 1.1:  # "1. Scope" in large type: a heading
            out.add("ListItem", BULLET.sub("", text, count=1), page=page)
        elif _is_heading(paragraph, text, body_size, pitch, after):
            out.add("Title", text, page=page)
        else:
            out.add("NarrativeText", text, page=page)


def _is_heading(paragraph: list[Line], text: str, body_size: float, pitch: float, after: Line | None) -> bool:
    first = paragraph[0]
    if len(text) > 120 or text[-1] in TITLE_END or not any(c.isalpha() for c in text):
        return False
    if (first.size > body_size * 1.1 or first.bold) and first.size >= body_size - 0.5 and len(paragraph) <= 2:
        return True
    # a short line in the body font, well apart from what follows: a plain heading
    return len(paragraph) == 1 and after is not None and _pitch(first, after) > pitch * SET_APART


def _join(paragraph: list[Line]) -> str:
    """The paragraph's lines as one text: a word hyphenated at a line's end is joined."""
    parts: list[str] = []
    for line in paragraph:
        if parts and parts[-1].endswith("\x02"):
            parts[-1] = parts[-1][:-1]
        elif parts and parts[-1].endswith("-") and parts[-1][-2:-1].isalpha():
            pass  # "well-" + "known": the hyphen stays, with no space after it
        elif parts:
            parts.append(" ")
        parts.append(line.text)
    return "".join(parts).replace("\x02", "")
