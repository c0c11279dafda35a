"""Make a mixed document corpus for ``gristmill extract``: every format it reads, plus bad files.

    python examples/corpus/make_corpus.py [--out DIR] [--count N] [--force]

Writes ``--count`` documents (default 300), spread evenly over .txt .md .html .htm .xml (generic and
METS/MODS) .pdf .docx .pptx .xlsx .csv .tsv .json .jsonl .eml, in nested folders, mostly English with
some French, German and Spanish.  A fixed set of extra files comes on top: non-ASCII names, extensions
that lie, legacy encodings (cp1252, latin-1, UTF-16) and ``broken/`` (truncated, encrypted, invalid,
hostile and oversized files).

Deterministic: the same bytes and the same mtimes on every run, so runs over the corpus can be compared.
An up-to-date corpus (its marker file ``.corpus.json`` names the same count and version) is left alone
unless ``--force``.  The corpus is built beside the target and moved into place at the end, so an
interrupted run never leaves a half-made corpus that looks complete.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import os
import random
import re
import shutil
import sys
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

VERSION = 2  # bump whenever the output changes, so existing corpora are rebuilt
SEED = 20240115
MARKER = ".corpus.json"
DEFAULT_OUT = Path(__file__).parent / "files"
FIXED = datetime(2024, 1, 15, 12, 0, 0, tzinfo=timezone.utc)
FIXED_TS = FIXED.timestamp()
ZIP_DATE = (2024, 1, 15, 12, 0, 0)
ZIPBOMB_BYTES = 200 * 1024 * 1024  # what one member inflates to
HUGE_BYTES = 3 * 1024 * 1024

FORMATS = (
    "txt",
    "md",
    "html",
    "htm",
    "xml",
    "mets",
    "pdf",
    "docx",
    "pptx",
    "xlsx",
    "csv",
    "tsv",
    "json",
    "jsonl",
    "eml",
)
FOLDERS = {
    "txt": ("notes", "notes/2024", "reports/2023/q4"),
    "md": ("notes/wiki", "docs/guides/setup", "reports/2024/q1"),
    "html": ("web/pages", "web/news/2024", "web/pages/archive"),
    "htm": ("web/legacy", "web/legacy/2019/press"),
    "xml": ("data/xml", "data/xml/feeds"),
    "mets": ("archive/mets/volumes", "archive/mets/newspapers/1911"),
    "pdf": ("reports/2024/q1", "reports/2024/q2", "reports/2023/q4"),
    "docx": ("office/letters", "office/minutes/2024", "reports/2024/q2"),
    "pptx": ("presentations/2024", "presentations/2023/conferences"),
    "xlsx": ("data/sheets", "finance/2024/q1"),
    "csv": ("data/exports", "data/exports/2024", "finance/2024/q2"),
    "tsv": ("data/exports/tsv", "finance/2023/q4"),
    "json": ("data/api", "data/api/v2/records"),
    "jsonl": ("data/api/stream", "data/logs/2024"),
    "eml": ("mail/inbox", "mail/sent", "mail/archive/2023"),
}

# --- vocabulary -------------------------------------------------------------------------------------

SUBJECTS = (
    "The committee",
    "Our team",
    "The regional office",
    "The archive",
    "The survey team",
    "Field staff",
    "The board",
    "The pilot project",
    "The finance department",
    "Volunteers",
    "The library",
    "The contractor",
)
VERBS = (
    "reviewed",
    "approved",
    "measured",
    "documented",
    "postponed",
    "expanded",
    "summarised",
    "compared",
    "published",
    "audited",
    "catalogued",
    "digitised",
)
OBJECTS = (
    "the quarterly figures",
    "the migration plan",
    "water usage in the northern district",
    "the digitisation backlog",
    "supplier contracts",
    "the training budget",
    "the flood-risk maps",
    "the catalogue of letters",
    "visitor numbers",
    "energy costs",
    "the parish registers",
    "the new storage facility",
)
TAILS = (
    "in March",
    "after a long delay",
    "for the second time this year",
    "ahead of the annual meeting",
    "with mixed results",
    "despite staff shortages",
    "",
    "as requested by the auditors",
    "using the new method",
    "before the end of the quarter",
    "at a cost of 12,400 EUR",
    "and found no major problems",
)
POOLS = {
    "fr": (
        "Le comité a approuvé le budget de l'année prochaine.",
        "Les résultats du deuxième trimestre sont encourageants.",
        "L'équipe a numérisé près de mille pages d'archives.",
        "Une réunion est prévue à la fin du mois à Besançon.",
        "Les données météorologiques ont été vérifiées deux fois.",
        "Le bâtiment sera rénové après l'été.",
        "Les élèves ont visité la bibliothèque municipale.",
        "Il faut préparer le rapport avant la clôture de l'exercice.",
        "La région a enregistré une hausse des coûts énergétiques.",
        "Les registres paroissiaux sont conservés dans la réserve.",
        "Hélène Lefèvre présentera les conclusions en décembre.",
        "Aucune anomalie n'a été détectée lors du contrôle.",
    ),
    "de": (
        "Der Ausschuss hat den Haushalt für das nächste Jahr genehmigt.",
        "Die Ergebnisse des zweiten Quartals sind ermutigend.",
        "Das Team hat fast tausend Seiten digitalisiert.",
        "Die Übergabe der Akten erfolgt im Frühjahr.",
        "Größere Änderungen sind derzeit nicht geplant.",
        "Die Prüfung der Verträge dauert länger als erwartet.",
        "Der Wasserverbrauch im Süden ist leicht gestiegen.",
        "Frau Müller übernimmt ab März die Leitung des Archivs.",
        "Die Schulungen finden in Köln und Düsseldorf statt.",
        "Für die Lagerung wird ein neuer Raum benötigt.",
        "Die Kosten für Energie müssen gesenkt werden.",
        "Alle Einträge wurden sorgfältig überprüft.",
    ),
    "es": (
        "El comité aprobó el presupuesto del próximo año.",
        "Los resultados del segundo trimestre son alentadores.",
        "El equipo digitalizó casi mil páginas del archivo.",
        "La reunión se celebrará en León a finales de mes.",
        "¿Quién revisará las cifras de producción?",
        "La señora Muñoz presentó el informe anual.",
        "El consumo de agua aumentó en la región de Andalucía.",
        "Los técnicos instalarán el nuevo sistema en otoño.",
        "Se necesitan más voluntarios para la campaña de verano.",
        "La biblioteca recibió una donación de libros antiguos.",
        "Todavía no se ha decidido la fecha de la inauguración.",
        "Los costes de energía siguen siendo muy altos.",
    ),
}
TITLES = {
    "en": ("Report", "Minutes", "Review", "Memo", "Summary", "Proposal", "Inventory", "Newsletter"),
    "fr": (
        "Rapport sur la numérisation des archives",
        "Compte rendu de la réunion de février",
        "Bilan énergétique de l'année",
        "Note sur les coûts de stockage",
    ),
    "de": (
        "Übersicht der Quartalszahlen",
        "Protokoll der Sitzung vom März",
        "Jahresbericht über Energiekosten",
        "Vermerk zur Aktenübergabe",
    ),
    "es": (
        "Informe anual de producción",
        "Acta de la reunión de diciembre",
        "Resumen del año fiscal",
        "Propuesta de digitalización",
    ),
}
TOPICS = (
    "Water Usage",
    "Archive Digitisation",
    "Regional Sales",
    "Staff Training",
    "Energy Costs",
    "Library Acquisitions",
    "Flood Risk",
    "Supplier Contracts",
    "Visitor Numbers",
    "IT Migration",
)
HEADINGS = {
    "en": ("Background", "Summary", "Findings", "Next steps", "Budget", "Risks", "Methodology", "Appendix"),
    "fr": ("Contexte", "Résumé", "Résultats", "Prochaines étapes", "Budget", "Risques"),
    "de": ("Hintergrund", "Zusammenfassung", "Ergebnisse", "Nächste Schritte", "Haushalt", "Risiken"),
    "es": ("Antecedentes", "Resumen", "Resultados", "Próximos pasos", "Presupuesto", "Riesgos"),
}
AUTHORS = (
    "Margaret Okafor",
    "Amélie Durand",
    "Jürgen Weiß",
    "José Martínez",
    "Chen Wei",
    "Siobhán Kelly",
    "Thomas Reed",
    "Priya Raman",
    "Søren Nielsen",
    "Hélène Lefèvre",
)
REGIONS = ("North West", "Scotland", "Île-de-France", "Baden-Württemberg", "Andalucía", "Wales", "Bretagne")
PRODUCTS = ("flour", "barley", "oats", "rye", "millstone", "sacks", "wheat bran")
PAPERS = (
    ("The Millbrook Gazette", "Millbrook", "eng"),
    ("Chronicle of the River Valley", "Riverton", "eng"),
    ("Le Petit Journal de Lyon", "Lyon", "fre"),
    ("Allgemeine Zeitung für Württemberg", "Stuttgart", "ger"),
    ("El Eco de Sevilla", "Sevilla", "spa"),
)
LANG_CODES = {"en": "eng", "fr": "fre", "de": "ger", "es": "spa"}

# --- one document's content, rendered into every format -------------------------------------------


@dataclass
class Section:
    heading: str
    paragraphs: list[str]
    bullets: list[str] = field(default_factory=list)


@dataclass
class Doc:
    index: int
    lang: str
    title: str
    author: str
    day: date
    sections: list[Section]
    header: list[str]
    rows: list[list[str | int | float]]


def english_sentence(rng: random.Random) -> str:
    tail = rng.choice(TAILS)
    words = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    return f"{words} {tail}." if tail else f"{words}."


def sentence(rng: random.Random, lang: str) -> str:
    return english_sentence(rng) if lang == "en" else rng.choice(POOLS[lang])


def paragraph(rng: random.Random, lang: str, low: int = 2, high: int = 6) -> str:
    size = rng.randint(low, high)
    if lang != "en":  # the pools are small: no sentence twice in one paragraph
        return " ".join(rng.sample(POOLS[lang], size))
    return " ".join(english_sentence(rng) for _ in range(size))


def bullet(rng: random.Random, lang: str) -> str:
    if lang == "en":
        return f"{rng.choice(('Check', 'Update', 'Publish', 'Archive', 'Budget for'))} {rng.choice(OBJECTS)}"
    return rng.choice(POOLS[lang]).rstrip(".")


def records(rng: random.Random, count: int) -> tuple[list[str], list[list[str | int | float]]]:
    header = ["id", "date", "region", "product", "quantity", "unit_price", "customer", "note"]
    rows: list[list[str | int | float]] = []
    for n in range(count):
        day = date(2024, 1, 1) + timedelta(days=rng.randrange(366))
        note = rng.choice(("", "urgent", 'said "next week"', "paid, not shipped", "à vérifier", "geprüft"))
        rows.append(
            [
                n + 1,
                day.isoformat(),
                rng.choice(REGIONS),
                rng.choice(PRODUCTS),
                rng.randint(1, 500),
                round(rng.uniform(0.5, 90.0), 2),
                rng.choice(AUTHORS),
                note,
            ]
        )
    return header, rows


def make_doc(rng: random.Random, index: int) -> Doc:
    # About one document in eight is not English.
    lang = rng.choice(("fr", "de", "es")) if rng.random() < 0.125 else "en"
    if lang == "en":
        period = f"Q{rng.randint(1, 4)} {rng.choice((2023, 2024))}"
        title = f"{rng.choice(TITLES['en'])} on {rng.choice(TOPICS)}, {period}"
    else:
        title = rng.choice(TITLES[lang])
    headings = rng.sample(HEADINGS[lang], rng.randint(2, 4))
    sections = []
    for number, heading in enumerate(headings):
        paragraphs = [paragraph(rng, lang) for _ in range(rng.randint(1, 3))]
        bullets = [bullet(rng, lang) for _ in range(rng.randint(3, 5))] if number % 2 == 0 else []
        sections.append(Section(heading, paragraphs, bullets))
    header, rows = records(rng, rng.randint(3, 6))
    header, rows = header[1:6], [row[1:6] for row in rows]  # a narrow table reads better in prose formats
    day = date(2023, 1, 1) + timedelta(days=rng.randrange(730))
    return Doc(index, lang, title, rng.choice(AUTHORS), day, sections, header, rows)


def plain_text(doc: Doc) -> str:
    lines = [doc.title, "=" * len(doc.title), "", f"{doc.author}, {doc.day.isoformat()}", ""]
    for section in doc.sections:
        lines += [section.heading, "-" * len(section.heading), ""]
        for text in section.paragraphs:
            lines += [text, ""]
        if section.bullets:
            lines += [f"  * {item}" for item in section.bullets] + [""]
    return "\n".join(lines)


def markdown(doc: Doc) -> str:
    lines = [f"# {doc.title}", "", f"*{doc.author}* — {doc.day.isoformat()}", ""]
    for number, section in enumerate(doc.sections):
        lines += [f"## {section.heading}", ""]
        for text in section.paragraphs:
            lines += [text, ""]
        if section.bullets:
            marker = "-" if number % 4 == 0 else "1."
            lines += [f"{marker} {item}" for item in section.bullets] + [""]
    lines += ["## Figures", "", "| " + " | ".join(doc.header) + " |", "|" + "---|" * len(doc.header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in doc.rows]
    return "\n".join(lines) + "\n"


def html_page(doc: Doc) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{doc.lang}">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(doc.title)}</title>",
        "</head>",
        "<body>",
        '<header><nav><a href="/">Home</a> | <a href="/reports/">Reports</a> | '
        '<a href="/contact/">Contact</a></nav></header>',
        "<main>",
        "<article>",
        f"<h1>{e(doc.title)}</h1>",
        f'<p class="byline">By {e(doc.author)}, <time>{doc.day.isoformat()}</time></p>',
    ]
    for section in doc.sections:
        parts.append(f"<h2>{e(section.heading)}</h2>")
        for number, text in enumerate(section.paragraphs):
            if number == 1:
                parts.append(f"<h3>{e(section.heading)} ({number + 1})</h3>")
            parts.append(f"<p>{e(text)}</p>")
        if section.bullets:
            parts.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in section.bullets) + "</ul>")
    parts.append("<table>")
    parts.append("<thead><tr>" + "".join(f"<th>{e(cell)}</th>" for cell in doc.header) + "</tr></thead>")
    parts.append("<tbody>")
    parts += ["<tr>" + "".join(f"<td>{e(str(cell))}</td>" for cell in row) + "</tr>" for row in doc.rows]
    parts += ["</tbody>", "</table>", "</article>", "</main>"]
    parts += ["<footer><p>&copy; 2024 Gristmill Regional Archive &middot; All rights reserved</p></footer>"]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def generic_xml(doc: Doc, encoding: str) -> bytes:
    lines = [
        f'<?xml version="1.0" encoding="{encoding}"?>',
        f'<report id="r{doc.index:04d}" xml:lang="{doc.lang}">',
        f"  <title>{escape(doc.title)}</title>",
        f"  <author>{escape(doc.author)}</author>",
        f"  <date>{doc.day.isoformat()}</date>",
    ]
    for section in doc.sections:
        lines.append(f"  <section heading={quoteattr(section.heading)}>")
        lines += [f"    <para>{escape(text)}</para>" for text in section.paragraphs]
        if section.bullets:
            lines.append("    <list>")
            lines += [f"      <item>{escape(item)}</item>" for item in section.bullets]
            lines.append("    </list>")
        lines.append("  </section>")
    lines.append("  <table>")
    lines.append("    <row>" + "".join(f"<cell>{escape(c)}</cell>" for c in doc.header) + "</row>")
    lines += [
        "    <row>" + "".join(f"<cell>{escape(str(c))}</cell>" for c in row) + "</row>" for row in doc.rows
    ]
    lines += ["  </table>", "</report>"]
    return ("\n".join(lines) + "\n").encode(encoding)


def mets_xml(rng: random.Random, doc: Doc) -> str:
    paper, place, language = rng.choice(PAPERS)
    issued = date(1880, 1, 1) + timedelta(days=rng.randrange(55 * 365))
    pages = rng.randint(2, 8)
    # Two ways archives ship OCR text inside METS: as XML or as bare text in FContent/xmlData.
    fulltext = rng.choice(("xml", "plain", None))
    lang = {"eng": "en", "fre": "fr", "ger": "de", "spa": "es"}[language]
    objid = f"gra-{issued.year}-{doc.index:04d}"
    base = f"https://archive.example.org/{objid}"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<mets:mets xmlns:mets="http://www.loc.gov/METS/" xmlns:mods="http://www.loc.gov/mods/v3"'
        ' xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xsi:schemaLocation="http://www.loc.gov/METS/ http://www.loc.gov/standards/mets/mets.xsd'
        ' http://www.loc.gov/mods/v3 http://www.loc.gov/standards/mods/v3/mods-3-7.xsd"'
        f' OBJID="{objid}" TYPE="Newspaper">',
        '  <mets:metsHdr CREATEDATE="2024-01-15T12:00:00Z">',
        '    <mets:agent ROLE="CREATOR" TYPE="ORGANIZATION"><mets:name>Gristmill Regional Archive</mets:name>'
        "</mets:agent>",
        "  </mets:metsHdr>",
        '  <mets:dmdSec ID="DMD_0001">',
        '    <mets:mdWrap MDTYPE="MODS">',
        "      <mets:xmlData>",
        '        <mods:mods version="3.7">',
        "          <mods:titleInfo>",
        f"            <mods:title>{escape(paper)}</mods:title>",
        f"            <mods:partNumber>No. {rng.randint(1, 300)}</mods:partNumber>",
        "          </mods:titleInfo>",
        '          <mods:name type="personal">',
        f"            <mods:namePart>{escape(doc.author)}</mods:namePart>",
        '            <mods:role><mods:roleTerm type="text" authority="marcrelator">creator</mods:roleTerm>'
        "</mods:role>",
        "          </mods:name>",
        "          <mods:originInfo>",
        f'            <mods:place><mods:placeTerm type="text">{escape(place)}</mods:placeTerm></mods:place>',
        f"            <mods:publisher>{escape(paper)}</mods:publisher>",
        f'            <mods:dateIssued encoding="w3cdtf">{issued.isoformat()}</mods:dateIssued>',
        "          </mods:originInfo>",
        "          <mods:language>",
        f'            <mods:languageTerm type="code" authority="iso639-2b">{language}</mods:languageTerm>',
        "          </mods:language>",
        f"          <mods:physicalDescription><mods:extent>{pages} pages</mods:extent>"
        "</mods:physicalDescription>",
        f'          <mods:identifier type="urn">urn:nbn:de:gra-{issued.year}{doc.index:05d}'
        "</mods:identifier>",
        f'          <mods:identifier type="local">{objid.upper()}</mods:identifier>',
        "        </mods:mods>",
        "      </mets:xmlData>",
        "    </mets:mdWrap>",
        "  </mets:dmdSec>",
        "  <mets:fileSec>",
    ]
    groups = [("master", "MASTER", "image/tiff", "tif"), ("text", "ALTO", "text/xml", "xml")]
    for use, prefix, mime, ext in groups:
        out.append(f'    <mets:fileGrp USE="{use}">')
        for page in range(1, pages + 1):
            out.append(f'      <mets:file ID="{prefix}_{page:04d}" MIMETYPE="{mime}" SEQ="{page}">')
            out.append(f'        <mets:FLocat LOCTYPE="URL" xlink:href="{base}/{use}/{page:04d}.{ext}"/>')
            out.append("      </mets:file>")
        out.append("    </mets:fileGrp>")
    if fulltext:
        out.append('    <mets:fileGrp USE="fulltext">')
        mime = "text/xml" if fulltext == "xml" else "text/plain"
        for page in range(1, pages + 1):
            out.append(f'      <mets:file ID="FULLTEXT_{page:04d}" MIMETYPE="{mime}" SEQ="{page}">')
            out.append("        <mets:FContent>")
            text = [paragraph(rng, lang, 2, 4) for _ in range(rng.randint(1, 3))]
            if fulltext == "xml":
                out.append(f'          <mets:xmlData><page n="{page}">')
                out += [f"            <p>{escape(p)}</p>" for p in text]
                out.append("          </page></mets:xmlData>")
            else:
                out.append("          <mets:xmlData>" + escape("\n\n".join(text)) + "</mets:xmlData>")
            out.append("        </mets:FContent>")
            out.append("      </mets:file>")
        out.append("    </mets:fileGrp>")
    out += [
        "  </mets:fileSec>",
        '  <mets:structMap TYPE="LOGICAL">',
        f'    <mets:div ID="LOG_0000" TYPE="issue" DMDID="DMD_0001" LABEL={quoteattr(paper)}/>',
        "  </mets:structMap>",
        '  <mets:structMap TYPE="PHYSICAL">',
        '    <mets:div ID="PHYS_0000" TYPE="physSequence">',
    ]
    for page in range(1, pages + 1):
        out.append(f'      <mets:div ID="PHYS_{page:04d}" TYPE="page" ORDER="{page}" ORDERLABEL="{page}">')
        out.append(f'        <mets:fptr FILEID="MASTER_{page:04d}"/>')
        out.append(f'        <mets:fptr FILEID="ALTO_{page:04d}"/>')
        if fulltext:
            out.append(f'        <mets:fptr FILEID="FULLTEXT_{page:04d}"/>')
        out.append("      </mets:div>")
    out += ["    </mets:div>", "  </mets:structMap>", "</mets:mets>"]
    return "\n".join(out) + "\n"


def latin1(text: str) -> str:
    # fpdf2's core fonts only know latin-1.
    return text.encode("latin-1", "replace").decode("latin-1")


def pdf_bytes(rng: random.Random, doc: Doc, pages: int, password: str | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED)
    pdf.set_title(latin1(doc.title))
    pdf.set_author(latin1(doc.author))
    pdf.set_creator("gristmill examples/corpus/make_corpus.py")
    pdf.set_lang(doc.lang)
    if password is not None:
        pdf.set_encryption(owner_password="owner-gristmill", user_password=password)
    width = pdf.epw
    for page in range(pages):
        pdf.add_page()
        if page == 0:
            pdf.set_font("Helvetica", "B", 18)
            pdf.multi_cell(width, 9, latin1(doc.title), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "I", 10)
            pdf.cell(width, 7, latin1(f"{doc.author}, {doc.day.isoformat()}"), new_x="LMARGIN", new_y="NEXT")
        section = doc.sections[page % len(doc.sections)]
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(width, 10, latin1(section.heading), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Times", "", 11)
        texts = section.paragraphs if page < len(doc.sections) else [paragraph(rng, doc.lang)]
        for text in texts:
            pdf.multi_cell(width, 5.5, latin1(text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        for item in section.bullets:
            pdf.multi_cell(width, 5.5, latin1(f"  - {item}"), new_x="LMARGIN", new_y="NEXT")
        if page == pages - 1:
            pdf.ln(4)
            pdf.set_font("Helvetica", "B", 10)
            column = width / len(doc.header)
            for cell in doc.header:
                pdf.cell(column, 7, latin1(cell), border=1)
            pdf.ln()
            pdf.set_font("Helvetica", "", 10)
            for row in doc.rows:
                for value in row:
                    pdf.cell(column, 7, latin1(str(value)), border=1)
                pdf.ln()
    return bytes(pdf.output())


CORE_DATES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def fixed_zip(data: bytes) -> bytes:
    """Rewrite an Office zip with fixed entry dates and fixed core dates, so its bytes never vary."""
    stamp = FIXED.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = src.read(info)
            if info.filename == "docProps/core.xml":
                blob = CORE_DATES.sub(rb"\g<1>" + stamp + rb"\g<3>", blob)
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, blob)
    return out.getvalue()


def docx_bytes(doc: Doc) -> bytes:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title, props.author, props.last_modified_by = doc.title, doc.author, doc.author
    props.created = props.modified = props.last_printed = FIXED.replace(tzinfo=None)
    props.revision = 1
    props.language = doc.lang
    document.add_heading(doc.title, 0)
    document.add_paragraph(f"{doc.author}, {doc.day.isoformat()}").runs[0].italic = True
    for number, section in enumerate(doc.sections):
        document.add_heading(section.heading, 1)
        for text in section.paragraphs:
            document.add_paragraph(text)
        style = "List Bullet" if number % 4 == 0 else "List Number"
        for item in section.bullets:
            document.add_paragraph(item, style=style)
    table = document.add_table(rows=1, cols=len(doc.header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, doc.header, strict=True):
        cell.text = text
    for row in doc.rows:
        for cell, value in zip(table.add_row().cells, row, strict=True):
            cell.text = str(value)
    buffer = io.BytesIO()
    document.save(buffer)
    return fixed_zip(buffer.getvalue())


def pptx_bytes(rng: random.Random, doc: Doc) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    props = deck.core_properties
    props.title, props.author, props.last_modified_by = doc.title, doc.author, doc.author
    props.created = props.modified = props.last_printed = FIXED.replace(tzinfo=None)
    props.revision = 1
    title_slide = deck.slides.add_slide(deck.slide_layouts[0])
    title_slide.shapes.title.text = doc.title
    title_slide.placeholders[1].text = f"{doc.author} · {doc.day.isoformat()}"
    for section in doc.sections[: rng.randint(1, 3)]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = section.heading
        body = slide.placeholders[1].text_frame
        items = section.bullets or [sentence(rng, doc.lang) for _ in range(3)]
        body.text = items[0]
        for number, item in enumerate(items[1:]):
            para = body.add_paragraph()
            para.text = item
            para.level = 1 if number % 3 == 2 else 0
    buffer = io.BytesIO()
    deck.save(buffer)
    return fixed_zip(buffer.getvalue())


def xlsx_bytes(rng: random.Random, doc: Doc) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.properties.creator = doc.author
    book.properties.title = doc.title
    book.properties.created = book.properties.modified = FIXED.replace(tzinfo=None)
    sheet = book.active
    sheet.title = "Orders"
    header, rows = records(rng, rng.randint(10, 60))
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    if rng.random() < 0.5:
        summary = book.create_sheet("Summary")
        summary.append(["region", "orders", "quantity"])
        for region in sorted({str(row[2]) for row in rows}):
            mine = [row for row in rows if row[2] == region]
            summary.append([region, len(mine), sum(int(row[4]) for row in mine)])
    buffer = io.BytesIO()
    book.save(buffer)
    return fixed_zip(buffer.getvalue())


def delimited(rng: random.Random, delimiter: str) -> str:
    header, rows = records(rng, rng.randint(10, 80))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def json_text(rng: random.Random, doc: Doc) -> str:
    shape = rng.randrange(3)
    if shape == 0:  # a bare array of records
        header, rows = records(rng, rng.randint(5, 30))
        value: object = [dict(zip(header, row, strict=True)) for row in rows]
    elif shape == 1:  # an envelope around records
        header, rows = records(rng, rng.randint(5, 30))
        value = {
            "title": doc.title,
            "generated": FIXED.isoformat(),
            "count": len(rows),
            "records": [dict(zip(header, row, strict=True)) for row in rows],
        }
    else:  # a document as nested objects
        value = {
            "title": doc.title,
            "author": doc.author,
            "date": doc.day.isoformat(),
            "lang": doc.lang,
            "sections": [
                {"heading": s.heading, "paragraphs": s.paragraphs, "bullets": s.bullets} for s in doc.sections
            ],
        }
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def jsonl_text(rng: random.Random) -> str:
    header, rows = records(rng, rng.randint(10, 60))
    return "".join(json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False) + "\n" for row in rows)


def email_bytes(rng: random.Random, doc: Doc) -> bytes:
    sender, receiver = rng.sample(AUTHORS, 2)

    def address(name: str) -> str:
        local = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
        return f"{name} <{local.replace(' ', '.')}@example.org>"

    msg = EmailMessage()
    msg["From"] = address(sender)
    msg["To"] = address(receiver)
    msg["Subject"] = doc.title
    msg["Date"] = format_datetime(FIXED - timedelta(days=rng.randrange(400), minutes=rng.randrange(1440)))
    msg["Message-ID"] = f"<corpus-{doc.index:05d}@gristmill.example>"
    greeting = {"en": "Hello", "fr": "Bonjour", "de": "Hallo", "es": "Hola"}[doc.lang]
    body = [f"{greeting} {receiver.split()[0]},", ""]
    for section in doc.sections[:2]:
        for text in section.paragraphs:
            body += [text, ""]
        body += [f"- {item}" for item in section.bullets]
        if section.bullets:
            body.append("")
    body += ["--", sender]
    msg.set_content("\n".join(body) + "\n")
    if rng.random() < 0.5:
        paras = "".join(f"<p>{html.escape(line)}</p>" for line in body if line)
        msg.add_alternative(f"<html><body>{paras}</body></html>\n", subtype="html")
    if rng.random() < 0.3:
        msg.add_attachment(
            delimited(rng, ",").encode(), maintype="text", subtype="csv", filename="figures.csv"
        )
    # The email package draws random MIME boundaries; fixed ones keep the bytes stable.
    for number, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"===gristmill-{doc.index:05d}-{number}===")
    return msg.as_bytes()


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", ascii_text)[:6])


def render(rng: random.Random, doc: Doc, kind: str) -> tuple[str, bytes]:
    """The file's extension and bytes for one document."""
    renderers: dict[str, Callable[[], tuple[str, bytes]]] = {
        "txt": lambda: ("txt", plain_text(doc).encode()),
        "md": lambda: ("md", markdown(doc).encode()),
        "html": lambda: ("html", html_page(doc).encode()),
        "htm": lambda: ("htm", html_page(doc).encode()),
        # One generic XML file in four declares and uses ISO-8859-1, as older feeds do.
        "xml": lambda: ("xml", generic_xml(doc, "ISO-8859-1" if doc.index % 4 == 0 else "UTF-8")),
        "mets": lambda: ("xml", mets_xml(rng, doc).encode()),
        "pdf": lambda: ("pdf", pdf_bytes(rng, doc, rng.randint(1, 5))),
        "docx": lambda: ("docx", docx_bytes(doc)),
        "pptx": lambda: ("pptx", pptx_bytes(rng, doc)),
        "xlsx": lambda: ("xlsx", xlsx_bytes(rng, doc)),
        "csv": lambda: ("csv", delimited(rng, ",").encode()),
        "tsv": lambda: ("tsv", delimited(rng, "\t").encode()),
        "json": lambda: ("json", json_text(rng, doc).encode()),
        "jsonl": lambda: ("jsonl", jsonl_text(rng).encode()),
        "eml": lambda: ("eml", email_bytes(rng, doc)),
    }
    return renderers[kind]()


# --- the fixed extras ------------------------------------------------------------------------------


def zip_bomb(path: Path, members: dict[str, bytes], bomb_member: str) -> None:
    """A small but well-formed Office zip whose main part inflates to ZIPBOMB_BYTES of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, blob in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), blob, zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo(bomb_member, date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(4 * 1024 * 1024)
        # Streamed in chunks: the generator never holds the inflated member in memory.
        with archive.open(info, "w", force_zip64=True) as member:
            for _ in range(ZIPBOMB_BYTES // len(chunk)):
                member.write(chunk)


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/{part}" ContentType="{type}"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="{part}"/></Relationships>'
)


def broken_files(rng: random.Random, root: Path) -> None:
    folder = root / "broken"
    folder.mkdir(parents=True)
    doc = make_doc(rng, 90001)
    whole = pdf_bytes(rng, doc, 3)
    (folder / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    (folder / "encrypted.pdf").write_bytes(pdf_bytes(rng, make_doc(rng, 90002), 2, password="secret"))
    (folder / "invalid.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<catalogue>\n  <record id="1">\n'
        '    <title>An unclosed title\n    <author>Nobody</author>\n  </record>\n  <record id="2">\n'
        "    <title>Never closed either</title>\n",
        encoding="utf-8",
    )
    (folder / "xxe.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE note [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n'
        "<note>\n  <title>Quarterly note</title>\n  <body>&xxe;</body>\n</note>\n",
        encoding="utf-8",
    )
    entities = ['  <!ENTITY lol0 "lol">']
    entities += [f'  <!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    (folder / "bomb.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE lolz [\n'
        + "\n".join(entities)
        + "\n]>\n<lolz>&lol9;</lolz>\n",
        encoding="utf-8",
    )
    word = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    zip_bomb(
        folder / "zipbomb.docx",
        {
            "[Content_Types].xml": CONTENT_TYPES.format(part="word/document.xml", type=word).encode(),
            "_rels/.rels": RELS.format(part="word/document.xml").encode(),
        },
        "word/document.xml",
    )
    sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    zip_bomb(
        folder / "zipbomb.xlsx",
        {
            "[Content_Types].xml": CONTENT_TYPES.format(part="xl/worksheets/sheet1.xml", type=sheet).encode(),
            "_rels/.rels": RELS.format(part="xl/workbook.xml").encode(),
            "xl/workbook.xml": (
                b'<?xml version="1.0" encoding="UTF-8"?>\n<workbook xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main"><sheets><sheet name="Sheet1" sheetId="1"/></sheets></workbook>'
            ),
        },
        "xl/worksheets/sheet1.xml",
    )
    (folder / "garbage.txt").write_bytes(rng.randbytes(8192))
    (folder / "empty.txt").write_bytes(b"")
    lines: list[str] = []
    size = 0
    while size < HUGE_BYTES:
        line = paragraph(rng, "en", 4, 8)
        lines.append(line)
        size += len(line) + 2
    (folder / "huge.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")


def special_files(rng: random.Random, root: Path) -> None:
    def put(rel: str, data: bytes) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    french = make_doc(random.Random(1), 0)
    french.lang, french.title, french.author = "fr", "Curriculum vitæ — Amélie Durand", "Amélie Durand"
    french.sections = [
        Section("Expérience", [paragraph(rng, "fr") for _ in range(2)], ["Archiviste, Besançon"])
    ]
    put("notes/résumé.txt", plain_text(french).encode())
    german = make_doc(rng, 0)
    german.lang, german.title = "de", "Übersicht der Bestände"
    german.sections = [Section(h, [paragraph(rng, "de")], [bullet(rng, "de")]) for h in HEADINGS["de"][:3]]
    put("docs/Übersicht.md", markdown(german).encode())
    spanish = make_doc(rng, 0)
    spanish.lang, spanish.title = "es", "Informe del año 2024"
    spanish.sections = [Section(h, [paragraph(rng, "es")], [bullet(rng, "es")]) for h in HEADINGS["es"][:3]]
    put("web/pages/informe_año.html", html_page(spanish).encode())
    # Extensions that lie: a PDF called .bin, markdown with no extension at all.
    put("scans/scan-0001.bin", pdf_bytes(rng, make_doc(rng, 90003), 2))
    put("notes/README", markdown(make_doc(rng, 90004)).encode())
    # Legacy encodings, each with characters that are not ASCII.
    put(
        "legacy/lettre_cp1252.txt",
        (
            "Besançon, le 4 mars 2024\n\nObjet : facture n° 2024-117\n\n"
            "Madame, Monsieur,\n\nVeuillez trouver ci-joint la facture "
            "d\u2019un montant de 1 250 € pour la restauration des registres. Le cœur du travail a porté "
            "sur les œuvres reliées à Besançon.\n\nCordialement,\nHélène Lefèvre\n"
        ).encode("cp1252"),
    )
    put(
        "legacy/brief_latin1.txt",
        (
            "Sehr geehrte Frau Müller,\n\nanbei die Übersicht über die Bestände für das Geschäftsjahr. "
            "Die Größe des Magazins reicht nicht mehr aus.\n\nMit freundlichen Grüßen\nJürgen Weiß\n"
        ).encode("latin-1"),
    )
    put(
        "legacy/carta_latin1.txt",
        (
            "Estimada señora Muñoz:\n\n¿Podría enviarnos el informe del año pasado? La reunión en León "
            "será el próximo miércoles.\n\nAtentamente,\nJosé Martínez\n"
        ).encode("latin-1"),
    )
    # An explicit little-endian BOM, so the bytes do not depend on the machine.
    put("legacy/notes_utf16.txt", b"\xff\xfe" + (plain_text(make_doc(rng, 90005)) + "\n").encode("utf-16-le"))


# --- driver ----------------------------------------------------------------------------------------


def build(root: Path, count: int) -> None:
    rng = random.Random(SEED)
    for index in range(count):
        kind = FORMATS[index % len(FORMATS)]
        doc = make_doc(rng, index)
        ext, data = render(rng, doc, kind)
        folder = root / rng.choice(FOLDERS[kind])
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{'mets-' if kind == 'mets' else ''}{slug(doc.title)}-{index:04d}.{ext}"
        (folder / name).write_bytes(data)
    # The extras draw from their own generator, so they are the same whatever the count.
    extras = random.Random(SEED + 1)
    special_files(extras, root)
    broken_files(extras, root)


def fix_times(root: Path) -> None:
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.utime(Path(folder) / name, (FIXED_TS, FIXED_TS))
        os.utime(folder, (FIXED_TS, FIXED_TS))


def up_to_date(out: Path, count: int) -> bool:
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("version") == VERSION and marker.get("count") == count


def summary(root: Path, seconds: float) -> str:
    kinds: Counter[str] = Counter()
    total = 0
    for path in root.rglob("*"):
        if path.is_file() and path.name != MARKER:
            kinds[path.suffix.lstrip(".").lower() or "(none)"] += 1
            total += path.stat().st_size
    counts = ", ".join(f"{ext} {n}" for ext, n in sorted(kinds.items()))
    files = sum(kinds.values())
    return f"made {files} files in {root}: {counts}; {total / 1e6:.1f} MB; {seconds:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to fill (default: %(default)s)")
    parser.add_argument("--count", type=int, default=300, help="documents, extras not counted (default: 300)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the corpus is up to date")
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.count < 1:
        parser.error("--count must be at least 1")
    if not args.force and up_to_date(out, args.count):
        print(f"{out} is up to date ({args.count} documents, version {VERSION}); --force rebuilds it")
        return 0
    # The old corpus is deleted before the new one moves in: never do that to a folder we did not make.
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        print(f"{out} is not empty and was not made by this script; not replacing it", file=sys.stderr)
        return 2
    start = time.perf_counter()
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    build(partial, args.count)
    marker = {"generator": "examples/corpus/make_corpus.py", "version": VERSION, "count": args.count}
    (partial / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
    fix_times(partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    print(summary(out, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
