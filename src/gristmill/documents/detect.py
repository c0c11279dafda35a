"""What a file is, from its first bytes; the name only settles between text formats."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

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
BY_SUFFIX = {
    ".md": "md",
    ".markdown": "md",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".eml": "eml",
    ".htm": "html",
    ".html": "html",
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
    if head.startswith(b"<"):
        if b"<html" in lowered or b"<!doctype html" in lowered or suffix in (".html", ".htm"):
            return "html"
        return "xml"
    if suffix in (".json", ".jsonl", ".ndjson") or head[:1] in (b"{", b"["):
        if suffix in (".jsonl", ".ndjson"):
            return "jsonl"
        lines = head.splitlines()
        return "jsonl" if len(lines) > 1 and all(line.startswith(b"{") for line in lines[:-1]) else "json"
    if MAIL_HEADER.match(head) and suffix not in (".md", ".csv", ".tsv"):
        return "eml"
    return BY_SUFFIX.get(suffix, "txt")
