"""What a file is, from its first bytes; the name only settles between text formats."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import orjson

from gristmill.documents.office import zip_kind
from gristmill.documents.text import looks_binary

MIME = {
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "xml": "application/xml",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "eml": "message/rfc822",
}
# A name that says which text format a file is settles it (a README that opens with a badge
# in brackets or an HTML comment is still Markdown), unless the file is unmistakably a whole
# HTML page or XML document; PDF, Office and binary files are known by their bytes whatever
# their name.
BY_SUFFIX = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".mdown": "md",
    ".mkd": "md",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".eml": "eml",
    ".htm": "html",
    ".html": "html",
    ".xhtml": "html",
    ".xml": "xml",
}
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office before 2007, Outlook's .msg
RTF, POSTSCRIPT = b"{\\rtf", b"%!PS"  # text, but all markup: read as text, the words would drown in it
# Formats known by their first bytes that are not read: named in the message that refuses them.
UNSUPPORTED = (
    (RTF, "RTF (save it as .docx or .txt)"),
    (POSTSCRIPT, "PostScript (convert it to .pdf)"),
    (OLE2, "a legacy Office file (OLE2: .doc, .xls, .ppt or .msg; save it as .docx, .xlsx, .pptx or .eml)"),
    (b"PK\x03\x04", "a zip archive"),  # not a .docx, .pptx or .xlsx: detect looked
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"ID3", "MP3 audio"),
    (b"\xff\xfb", "MP3 audio"),
    (b"OggS", "Ogg audio or video"),
    (b"fLaC", "FLAC audio"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ", "a Windows program"),
)
OPEN_DOCUMENT = b"mimetypeapplication/vnd.oasis.opendocument."  # the first member of an .odt, .ods...
MAIL_HEADER = re.compile(rb"^(?:From|To|Subject|Date|Received|Return-Path|Message-ID|MIME-Version):", re.I)


def detect(data: bytes, filename: str) -> str | None:
    """The format of DATA (a key of MIME), or None when it is none of them."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return zip_kind(data)
    if looks_binary(data) or data.startswith((RTF, POSTSCRIPT)):
        return None
    suffix = PurePosixPath(filename).suffix.lower()
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = head.lower()
    html = b"<html" in lowered or b"<!doctype html" in lowered
    named = BY_SUFFIX.get(suffix)
    if named in ("xml", "txt", "md") and lowered.startswith((b"<!doctype html", b"<html", b"<?xml")):
        return "html" if html else "xml"  # a page saved as text, XHTML
    if named == "json":
        return "jsonl" if _json_lines(head) else "json"
    if named is not None:
        return named
    # a name that says nothing: the content decides
    if head.startswith(b"<"):
        return "html" if html else "xml"
    if head[:1] in (b"{", b"["):
        if _json_lines(head):
            return "jsonl"
        if _parses(data):  # "[1] Smith, J." opens like JSON too
            return "json"
    if MAIL_HEADER.match(head):
        return "eml"
    return "txt"


def describe(data: bytes) -> str:
    """What DATA is, for the message that refuses it (detect found no format it reads)."""
    if data[30:].startswith(OPEN_DOCUMENT):
        return "an OpenDocument file (.odt, .ods or .odp; save it as .docx, .xlsx or .pptx)"
    if data[4:8] == b"ftyp":
        return "an MP4, QuickTime or HEIF media file"
    return next(
        (name for magic, name in UNSUPPORTED if data.startswith(magic)), "binary content of an unknown type"
    )


def _parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def _json_lines(head: bytes) -> bool:
    """Whether HEAD is JSON Lines: several lines, each an object."""
    lines = head.splitlines()
    return len(lines) > 1 and all(line.startswith(b"{") for line in lines[:-1])
