"""gristmill extract: every format against golden outputs, hostile files, chunking, the CLI.

The small files under tests/documents/files/ (one per format) were made once with fpdf2,
python-docx, python-pptx and openpyxl; their expected elements are in tests/documents/golden/.
After a deliberate change of the output, rewrite them with GRISTMILL_UPDATE_GOLDEN=1 and
read the diff.
"""

from __future__ import annotations

import base64
import io
import json
import os
import resource
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import orjson
import pytest

from gristmill import ProcessingError, SkipItem
from gristmill.documents import Chunk, Partition
from gristmill.samples import Document, Element

HERE = Path(__file__).parent / "documents"
FILES = sorted((HERE / "files").iterdir())
GRISTMILL = [sys.executable, "-m", "gristmill"]


def partition(name: str, content: bytes, **options: object) -> Document:
    return Partition(**options).process(Document(id=name, content=content, metadata={"filename": name}))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_each_format_gives_its_golden_elements(path: Path) -> None:
    found = [e.model_dump() for e in partition(path.name, path.read_bytes()).elements]
    golden = HERE / "golden" / f"{path.name}.json"
    if os.environ.get("GRISTMILL_UPDATE_GOLDEN"):
        golden.write_bytes(orjson.dumps(found, option=orjson.OPT_INDENT_2) + b"\n")
    assert found == json.loads(golden.read_text(encoding="utf-8"))


def test_every_format_is_covered() -> None:
    kinds = {partition(p.name, p.read_bytes()).metadata["filetype"] for p in FILES}
    assert len(kinds) == 13  # txt md html xml pdf docx pptx xlsx csv tsv json jsonl eml


def test_the_format_comes_from_the_content() -> None:
    pdf = (HERE / "files" / "inspection.pdf").read_bytes()
    assert partition("scan.bin", pdf).metadata["filetype"] == "application/pdf"
    html = (HERE / "files" / "page.html").read_bytes()
    assert partition("page.txt", html).metadata["filetype"] == "text/html"


@pytest.mark.parametrize(
    ("name", "content", "filetype"),
    [
        ("readme.md", b"[![Build](https://ci/badge.svg)](https://ci)\n\n# Project\n", "text/markdown"),
        ("comment.md", b"<!-- generated -->\n# Title\n\nBody.\n", "text/markdown"),
        ("notes.mkd", b"<!-- generated -->\n# Title\n", "text/markdown"),
        ("center.md", b'<p align="center"><img src="logo.png"></p>\n\n# Title\n', "text/markdown"),
        ("angle.txt", b"<Note to self> remember milk.\n", "text/plain"),
        ("refs.txt", b"[1] Smith, J. A paper.\n[2] Doe.\n", "text/plain"),
        ("notes", b"[1] Smith, J. A paper.\n", "text/plain"),  # no telling name: the content
        ("notes", b'[1, "Smith"]\n', "application/json"),
        ("page.xml", b"<?xml version='1.0'?><html><body><p>x</p></body></html>", "text/html"),
    ],
)
def test_a_text_format_s_name_settles_it(name: str, content: bytes, filetype: str) -> None:
    document = partition(name, content)
    assert document.metadata["filetype"] == filetype
    assert all("generated" not in element.text for element in document.elements)  # a comment is no text


def test_a_non_utf8_file_is_decoded() -> None:
    elements = partition("latin1.txt", (HERE / "files" / "latin1.txt").read_bytes()).elements
    assert elements[0].text == "Café crème"
    assert "à eau tourne déjà très vite, même l'été" in elements[1].text


def test_element_ids_are_deterministic_and_titles_are_parents() -> None:
    content = (HERE / "files" / "guide.md").read_bytes()
    first, again = partition("guide.md", content).elements, partition("guide.md", content).elements
    assert [e.element_id for e in first] == [e.element_id for e in again]
    assert len({e.element_id for e in first}) == len(first)
    stones = next(e for e in first if e.text == "Stones")
    assert all(e.metadata["parent_id"] == stones.element_id for e in first if e.type == "ListItem")


# -- hostile and broken files --------------------------------------------------------------


def zip_bomb(path: Path, member: str) -> None:
    """A small zip with a member that would expand to 512 MB of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(member, "w", force_zip64=True) as big:
            block = b"\0" * (1 << 20)
            for _ in range(512):
                big.write(block)


def encrypted_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, "secret plans")
    pdf.output(str(path))


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    folder = tmp_path / "hostile"
    folder.mkdir()
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-1234")
    pdf = (HERE / "files" / "inspection.pdf").read_bytes()
    (folder / "truncated.pdf").write_bytes(pdf[: len(pdf) // 2])
    encrypted_pdf(folder / "encrypted.pdf")
    (folder / "invalid.xml").write_text("<catalog><book>unclosed</catalog>")
    (folder / "xxe.xml").write_text(
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{canary}">]><d>&x;</d>'
    )
    levels = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    (folder / "bomb.xml").write_text(f'<?xml version="1.0"?><!DOCTYPE d [{"".join(levels)}]><d>&l9;</d>')
    zip_bomb(folder / "bomb.docx", "word/document.xml")
    zip_bomb(folder / "bomb.xlsx", "xl/workbook.xml")
    (folder / "garbage.txt").write_bytes(bytes(range(256)) * 64)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "huge.txt").write_text("big text\n" * 300_000)  # 2.7 MB
    (folder / "fine.md").write_text("# Still fine\n\nThe rest go on.\n")
    return folder


EXPECTED = {
    "truncated.pdf": "the PDF is damaged or truncated",
    "encrypted.pdf": "the PDF is encrypted",
    "invalid.xml": "invalid XML: mismatched tag",
    "xxe.xml": "the XML declares entities",
    "bomb.xml": "the XML declares entities",
    "bomb.docx": "refused as a likely zip bomb",
    "bomb.xlsx": "refused as a likely zip bomb",
    "garbage.txt": "not a supported document format",
    "empty.txt": "the file is empty",
    "huge.txt": "over the 1,000,000 allowed (--max-file-size)",
}


def test_hostile_files_fail_alone_with_clear_messages(hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [*GRISTMILL, "extract", str(hostile), "--output", str(out), "--workers", "2", "--no-progress"]
    run = subprocess.run([*command, "--max-file-size", "1MB"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 1, run.stderr  # some items failed; the run itself did not
    assert "1 done, 10 failed" in run.stdout
    assert json.loads((out / "fine.md.json").read_text())[0]["text"] == "Still fine"
    state = next((tmp_path / ".gristmill").iterdir())
    failures = subprocess.run(
        [*GRISTMILL, "failures", "--state", str(state), "--json"], capture_output=True, text=True
    )
    messages = {f["id"]: f["message"] for f in json.loads(failures.stdout)}
    for name, expected in EXPECTED.items():
        assert expected in messages[name], (name, messages[name])
    assert "CANARY" not in failures.stdout + run.stdout + run.stderr  # the external entity was never read
    # nothing was expanded: the workers never came near the bombs' sizes (512 MB, a billion 'lol's)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mb < 400, peak_mb


def test_unsupported_files_can_be_skipped() -> None:
    with pytest.raises(SkipItem, match="not a supported document format"):
        partition("garbage.txt", bytes(range(256)) * 16, skip_unsupported=True)
    with pytest.raises(ProcessingError, match="--skip-unsupported"):
        partition("garbage.txt", bytes(range(256)) * 16)


# -- chunks --------------------------------------------------------------------------------


def elements(*texts: str, kind: str = "NarrativeText") -> list[Element]:
    return [
        Element(type=kind, element_id=f"e{i}", text=t, metadata={"filename": "f"})
        for i, t in enumerate(texts)
    ]


def chunked(items: list[Element], **options: object) -> list[Element]:
    return Chunk(**options).process(Document(id="d", elements=items)).elements


def originals(chunk: Element) -> list[dict[str, object]]:
    """A chunk's ``orig_elements`` decoded as unstructured's loader does: base64, then zlib
    (what unstructured calls gzipped JSON), then JSON."""
    return json.loads(zlib.decompress(base64.b64decode(chunk.metadata["orig_elements"])))


def test_basic_chunks_fill_up_to_the_limit_and_keep_their_origins() -> None:
    items = elements("a" * 40, "b" * 40, "c" * 40)
    items[1].metadata["parent_id"] = "e0"
    found = chunked(items, max_characters=90)
    assert [c.text for c in found] == ["a" * 40 + "\n\n" + "b" * 40, "c" * 40]
    assert originals(found[0]) == [e.model_dump() for e in items[:2]]  # whole, with their ids
    assert found[0].type == "CompositeElement"
    again = originals(chunked(found)[0])  # chunks of chunks: no copies nested in copies
    assert [e["element_id"] for e in again] == [c.element_id for c in found]
    assert not any("orig_elements" in e["metadata"] for e in again)


def test_by_title_starts_a_chunk_at_each_title() -> None:
    items = elements("Intro", "text one") + elements("Next", "text two")
    items[0].type = items[2].type = "Title"
    items[2].element_id, items[3].element_id = "e2", "e3"
    found = chunked(items, strategy="by_title", max_characters=500)
    assert [c.text for c in found] == ["Intro\n\ntext one", "Next\n\ntext two"]
    assert len(chunked(items, strategy="basic", max_characters=500)) == 1


def test_a_long_element_is_cut_with_overlap_and_a_table_stays_alone() -> None:
    found = chunked(elements("0123456789" * 3), max_characters=12, overlap=2)
    assert [c.text for c in found] == ["012345678901", "012345678901", "0123456789"]
    assert all([e["element_id"] for e in originals(c)] == ["e0"] for c in found)
    table = elements("a b", kind="Table")[0]
    table.metadata["text_as_html"] = "<table><tr><td>a</td><td>b</td></tr></table>"
    mixed = chunked([*elements("before"), table], max_characters=100)
    assert [c.type for c in mixed] == ["CompositeElement", "Table"]
    assert mixed[1].metadata["text_as_html"].startswith("<table>")


@pytest.mark.parametrize(
    ("overlap", "pieces"),
    [
        pytest.param(0, ["alpha beta", "gamma", "deltaepsilo", "n zeta"], id="no-overlap"),
        # a cut must leave more than the overlap behind: "mma  deltae" has no space past it
        pytest.param(3, ["alpha beta", "eta gamma", "mma  deltae", "taepsilon", "lon zeta"], id="overlap"),
    ],
)
def test_long_text_is_cut_at_the_last_whitespace_that_fits(overlap: int, pieces: list[str]) -> None:
    """Mid-word only where a piece holds no whitespace (deltaepsilon: 12 characters > 11)."""
    found = chunked(elements("alpha beta gamma  deltaepsilon zeta"), max_characters=11, overlap=overlap)
    assert [c.text for c in found] == pieces


def table(rows: list[list[str]]) -> Element:
    cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    text = "\n".join(" ".join(row) for row in rows)
    return Element(
        type="Table", element_id="t", text=text, metadata={"text_as_html": f"<table>{cells}</table>"}
    )


def test_a_big_table_is_split_between_rows_with_their_html() -> None:
    big = table([["id", "name"], ["1", "apple"], ["2", "banana"], ["3", "cherry"], ["4", "x" * 30]])
    found = chunked([big], max_characters=20, overlap=2)
    assert [c.text for c in found] == ["id name\n1 apple", "2 banana\n3 cherry", "4 " + "x" * 18, "x" * 14]
    assert [c.type for c in found] == ["TableChunk"] * 4
    assert [c.metadata.get("text_as_html") for c in found] == [
        "<table><tr><td>id</td><td>name</td></tr><tr><td>1</td><td>apple</td></tr></table>",
        "<table><tr><td>2</td><td>banana</td></tr><tr><td>3</td><td>cherry</td></tr></table>",
        None,  # a row cut as text has no HTML of its own
        None,
    ]
    assert all(len(c.text) <= 20 and originals(c) == [big.model_dump()] for c in found)
    spanned = big.metadata["text_as_html"].replace("<td>1</td>", '<td rowspan="2">1</td>')
    big.metadata["text_as_html"] = spanned  # a cell in two rows: no rows' HTML stands alone
    assert all("text_as_html" not in c.metadata for c in chunked([big], max_characters=20))


def test_the_copies_of_a_split_element_are_bounded() -> None:
    """Each piece carries a copy of its element while the copies hold at most 1M characters:
    a copy in each of 1,760 pieces turned an 880 KB log file into 390 MB of chunks."""
    within, over = elements("word " * 4400, "word " * 4600)  # 44 pieces of 22,000; 46 of 23,000
    assert all(originals(c) == [within.model_dump()] for c in chunked([within]))
    assert all("orig_elements" not in c.metadata for c in chunked([over]))


def test_chunk_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Chunk(max_characters=10, overlap=10)


def test_the_mets_to_csv_example(tmp_path: Path) -> None:
    script = Path(__file__).parent.parent / "examples" / "mets_to_csv" / "mets_to_csv.py"
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 1, run.stderr  # one file in the sample folder is not METS
    assert "200 rows (200 new), 1 failed" in run.stdout
    rows = (tmp_path / "examples-output" / "mets_to_csv" / "mets.csv").read_text().splitlines()
    assert rows[0] == "identifier,title,creator,date,pages,files"
    assert len(rows) == 201 and rows[1].startswith("rec-0000,")
    again = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert "200 rows (0 new), 1 failed" in again.stdout  # resumed: only the failure was tried again
    assert (tmp_path / "examples-output" / "mets_to_csv" / "mets.csv").read_text().splitlines() == rows


def test_an_output_deleted_since_is_made_again(tmp_path: Path) -> None:
    command = [*GRISTMILL, "extract", str(HERE / "files"), "--output", str(tmp_path / "out"), "--no-progress"]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert f"this run: {len(FILES)} done" in first.stdout, first.stderr
    (tmp_path / "out" / "notes.txt.json").unlink()
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert "this run: 1 done" in again.stdout, again.stderr  # only the lost one
    assert json.loads((tmp_path / "out" / "notes.txt.json").read_text())[0]["text"] == "Quarterly Report"


def test_an_office_file_with_a_dtd_is_refused(tmp_path: Path) -> None:
    original = (HERE / "files" / "plan.docx").read_bytes()
    hostile = tmp_path / "plan.docx"
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(hostile, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                head, _, rest = data.partition(b"?>")
                data = head + b'?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + rest
            target.writestr(info, data)
    with pytest.raises(ProcessingError, match=r"word/document\.xml declares a DTD"):
        partition("plan.docx", hostile.read_bytes())


def test_an_output_folder_inside_the_source_is_refused(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("hello\n")
    command = [*GRISTMILL, "extract", "docs", "--output", "docs/out", "--no-progress"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 2 and "is inside the source" in run.stderr


def test_a_single_file_is_extracted_beside_its_folder_mates_untouched(tmp_path: Path) -> None:
    (tmp_path / "report [draft].txt").write_text("Quarterly Report\n\nAll is well.\n")
    (tmp_path / "other.txt").write_text("not this one\n")
    command = [*GRISTMILL, "extract", "report [draft].txt", "--output", "out", "--no-progress"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "this run: 1 done" in run.stdout
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report [draft].txt.json"]


# -- structure: the head, lists, nested tables, mixed content, groups, distinct ids ------------


def texts(name: str, content: bytes) -> list[tuple[str, str]]:
    return [(e.type, e.text) for e in partition(name, content).elements]


@pytest.mark.parametrize(
    "page",
    [
        pytest.param("<head><title>Page</title><meta charset='utf-8'><body>", id="body-ends-the-head"),
        pytest.param("<head><title>Page</title><h1>Body heading</h1>", id="a-body-tag-ends-the-head"),
        pytest.param("<title>Page</title><body>", id="no-head"),
    ],
)
def test_an_html_head_ends_where_the_body_begins(page: str) -> None:
    html = f"<!DOCTYPE html><html>{page}<h1>Body heading</h1><p>Body text.</p></body></html>"
    found = texts("page.html", html.encode())
    assert found[-2:] == [("Title", "Body heading"), ("NarrativeText", "Body text.")]
    assert ("NarrativeText", "Page") not in found  # the title in the head names the page: not body text


def test_html_lists_and_nested_tables_keep_their_text() -> None:
    html = (
        b"<ul><li><p>loose item</p></li><li>tight item</li></ul><p>after</p>"
        b"<table><tr><td>outer<table><tr><td>inner</td><td>cell</td></tr></table></td><td>next</td></tr>"
        b"</table>"
    )
    found = partition("page.html", html).elements
    assert [(e.type, e.text) for e in found[:3]] == [
        ("ListItem", "loose item"),
        ("ListItem", "tight item"),
        ("NarrativeText", "after"),
    ]
    assert found[3].text == "outer inner cell next"
    assert (
        found[3].metadata["text_as_html"] == "<table><tr><td>outer inner cell</td><td>next</td></tr></table>"
    )


def test_mixed_content_xml_comes_out_whole() -> None:
    tei = (
        b"<TEI><text><body><div><head>Chapter <hi>One</hi></head>"
        b"<p>Hello <b>bold</b> world and more text.</p><p>Plain.</p></div></body></text></TEI>"
    )
    assert texts("tei.xml", tei) == [
        ("Title", "Chapter One"),
        ("NarrativeText", "Hello bold world and more text."),
        ("NarrativeText", "Plain."),
    ]


def test_mods_language_terms_fill_languages() -> None:
    mets = (HERE / "files" / "mets.xml").read_text()
    language = (
        '<mods:language><mods:languageTerm type="text">English</mods:languageTerm>'
        '<mods:languageTerm type="code" authority="iso639-2b">eng</mods:languageTerm></mods:language>'
    )
    mets = mets.replace("</mods:titleInfo>", "</mods:titleInfo>" + language, 1)
    assert language in mets
    found = partition("mets.xml", mets.encode()).elements
    assert all(e.metadata["languages"] == ["eng"] for e in found)


def test_pptx_groups_are_read_and_titles_stay_on_their_slide() -> None:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    first.shapes.title.text = "First slide"
    group = first.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1)).text_frame.text = "In a group"
    second = deck.slides.add_slide(deck.slide_layouts[6])  # blank: no title
    second.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1)).text_frame.text = "Untitled"
    buffer = io.BytesIO()
    deck.save(buffer)
    found = partition("deck.pptx", buffer.getvalue()).elements
    title, grouped, untitled = (
        next(e for e in found if e.text == t) for t in ("First slide", "In a group", "Untitled")
    )
    assert grouped.metadata["parent_id"] == title.element_id
    assert untitled.metadata["page_number"] == 2 and "parent_id" not in untitled.metadata


def test_element_ids_are_distinct_within_and_across_documents() -> None:
    chunks = chunked(partition("rep.txt", b"abc" * 28).elements, max_characters=3)
    assert len(chunks) == 28 and len({c.element_id for c in chunks}) == 28
    assert [c.element_id for c in chunks] == [
        c.element_id for c in chunked(partition("rep.txt", b"abc" * 28).elements, max_characters=3)
    ]
    notes = [
        Partition().process(
            Document(id=f"{folder}/notes.txt", content=b"Same notes.\n", metadata={"filename": "notes.txt"})
        )
        for folder in ("a", "b")
    ]
    a, b = (doc.elements[0] for doc in notes)
    assert a.element_id != b.element_id
    assert (a.metadata["file_directory"], b.metadata["file_directory"]) == ("a", "b")
    assert chunked(notes[0].elements)[0].metadata["file_directory"] == "a"


def test_email_recipients_and_an_unknown_charset() -> None:
    mail = (
        b"From: Jane <jane@mill.example>\nTo: ops@mill.example, Bob <bob@mill.example>\nSubject: s\n"
        b'Content-Type: text/plain; charset="x-unknown-charset"\n\nCaf\xc3\xa9 is open.\n'
    )
    found = partition("mail.eml", mail).elements
    assert found[-1].text == "Café is open."
    assert found[-1].metadata["sent_to"] == ["ops@mill.example", "Bob <bob@mill.example>"]


def test_markdown_setext_headings_are_titles() -> None:
    markdown = b"Title\n=====\n\nSome text here.\n\nSub heading\n-----------\n\n- item\n"
    found = partition("setext.md", markdown).elements
    assert [(e.type, e.text, e.metadata.get("category_depth")) for e in found] == [
        ("Title", "Title", 0),
        ("NarrativeText", "Some text here.", None),
        ("Title", "Sub heading", 1),
        ("ListItem", "item", None),
    ]
