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
MAIL_HEADER = re.compile(rb"^(?:From|To|Subject|Date|Received|Return-Path|Message-ID|MIME-Version):", re.I)


def detect(data: bytes, filename: str) -> str | None:
    """The format of DATA (a key of MIME), or None when it is none of them."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return zip_kind(data)
    if looks_binary(data):
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
