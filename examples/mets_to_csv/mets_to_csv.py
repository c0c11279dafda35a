"""METS files to one CSV row each: identifier, title, creator, date, pages, files.

    python examples/mets_to_csv/mets_to_csv.py [FOLDER] [--output DIR]

FOLDER holds METS XML files (at any depth); without it, 200 sample records are made in
examples-output/mets/ first. Each worker writes one small CSV per record (atomically, named
after the record, so a record redone after a crash replaces its row); when the run ends,
they are merged in manifest order into DIR/mets.csv, itself written atomically. Rerun to
resume; a record that fails (not METS, invalid XML) is reported and the rest go on.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from gristmill import BaseSample, Document, Pipeline, ProcessingError, Processor
from gristmill.documents.markup import METS, mets_summary, parse_xml
from gristmill.sinks import CsvFiles
from gristmill.sources import Files

COLUMNS = ("identifier", "title", "creator", "date", "pages", "files")


class MetsRow(BaseSample):
    identifier: str
    title: str
    creator: str
    date: str
    pages: int
    files: int


class ReadMets(Processor):
    """The descriptive metadata, page count and file count of one METS document."""

    def process(self, sample: BaseSample) -> MetsRow:
        assert isinstance(sample, Document) and sample.content is not None
        root = parse_xml(sample.content)  # entities refused: XXE and bombs never expand
        if root.tag != f"{METS}mets":
            raise ProcessingError(f"not a METS document: its root element is {root.tag}")
        found = mets_summary(root)
        return MetsRow(
            id=sample.id,
            identifier=found["identifier"],
            title=found["title"],
            creator="; ".join(found["creators"]),
            date=found["date"],
            pages=found["pages"],
            files=found["files"],
        )


def pipeline(folder: Path, output: Path) -> Pipeline:
    sink = CsvFiles(folder=output / "rows", merged=output / "mets.csv", columns=COLUMNS)
    return Pipeline(Files(url=str(folder), pattern="**/*.xml"), [ReadMets()], sink, name="mets_to_csv")


def make_samples(folder: Path, count: int = 200) -> None:
    """Deterministic METS records: a title, creators, a date, master and text files per page."""
    rng = random.Random(1887)
    subjects = ["Mills", "Rivers", "Bread", "Grain", "Wheels", "Winds", "Stones", "Harvests"]
    for number in range(count):
        pages = rng.randint(1, 12)
        title = f"A History of {rng.choice(subjects)}, volume {number % 7 + 1}"
        creators = "".join(
            f"<mods:name><mods:namePart>Author {rng.randint(1, 60)}</mods:namePart></mods:name>"
            for _ in range(rng.randint(1, 2))
        )
        files = "".join(
            f'<mets:file ID="m{p}"><mets:FLocat xlink:href="p{p}.tif"/></mets:file>' for p in range(pages)
        )
        texts = "".join(
            f'<mets:file ID="t{p}"><mets:FLocat xlink:href="p{p}.xml"/></mets:file>' for p in range(pages)
        )
        divs = "".join(f'<mets:div TYPE="page" ORDER="{p + 1}"/>' for p in range(pages))
        path = folder / f"batch{number // 50}" / f"record{number:04d}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<mets:mets xmlns:mets="http://www.loc.gov/METS/" xmlns:mods="http://www.loc.gov/mods/v3" '
            'xmlns:xlink="http://www.w3.org/1999/xlink">'
            '<mets:dmdSec ID="d1"><mets:mdWrap MDTYPE="MODS"><mets:xmlData><mods:mods>'
            f"<mods:titleInfo><mods:title>{title}</mods:title></mods:titleInfo>{creators}"
            f"<mods:originInfo><mods:dateIssued>{rng.randint(1800, 1950)}</mods:dateIssued></mods:originInfo>"
            f'<mods:identifier type="local">rec-{number:04d}</mods:identifier>'
            "</mods:mods></mets:xmlData></mets:mdWrap></mets:dmdSec>"
            f'<mets:fileSec><mets:fileGrp USE="master">{files}</mets:fileGrp>'
            f'<mets:fileGrp USE="text">{texts}</mets:fileGrp></mets:fileSec>'
            f'<mets:structMap TYPE="PHYSICAL"><mets:div TYPE="book">{divs}</mets:div></mets:structMap>'
            "</mets:mets>\n",
            encoding="utf-8",
        )
    (folder / "batch0" / "not-mets.xml").write_text("<catalog><book>not METS</book></catalog>\n")


def _file(ident: str, href: str) -> str:
    return f'<mets:file ID="{ident}"><mets:FLocat xlink:href="{href}"/></mets:file>'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--output", type=Path, default=Path("examples-output/mets_to_csv"))
    args = parser.parse_args()
    folder = args.folder
    if folder is None:
        folder = Path("examples-output/mets")
        if not folder.exists():
            make_samples(folder)
    result = pipeline(folder, args.output).run(workers=2, progress=False)
    made = result.counts
    print(f"{made.done} rows ({result.done} new), {made.failed} failed -> {args.output / 'mets.csv'}")
    raise SystemExit(result.exit_code)


if __name__ == "__main__":
    main()
