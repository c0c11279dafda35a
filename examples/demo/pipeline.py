"""The demo: word statistics for every document of a corpus, one JSON file per document.

``make demo`` builds the corpus and runs this with ``gristmill run``. Binary and empty files
are skipped, a truncated JSON file fails with a clear message, and the rest are done.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from gristmill import Document, Pipeline, ProcessingError, Processor, SkipItem
from gristmill.sinks import JsonFiles
from gristmill.sources import Files

CORPUS = Path(__file__).parent / "corpus"


class Decode(Processor):
    """Bytes to text: UTF-8, else Windows-1252/Latin-1; binary content is skipped."""

    def process(self, doc: Document) -> Document:
        content = doc.content or b""
        if not content.strip():
            raise SkipItem("empty file")
        if b"\x00" in content[:4096]:
            raise SkipItem("binary content, not text")
        try:
            doc.text = content.decode("utf-8")
            doc.metadata["encoding"] = "utf-8"
        except UnicodeDecodeError:
            doc.text = content.decode("cp1252", errors="replace")
            doc.metadata["encoding"] = "cp1252"
        doc.content = None  # not needed downstream, and not worth writing out
        return doc


class ExtractJson(Processor):
    """For .json records, keep the title and text fields."""

    def process(self, doc: Document) -> Document:
        if not doc.id.endswith(".json"):
            return doc
        try:
            record = json.loads(doc.text or "")
        except json.JSONDecodeError as exc:
            raise ProcessingError(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; fix or remove the file"
            ) from exc
        doc.metadata["title"] = record.get("title")
        doc.text = record.get("text", "")
        return doc


class WordStats(Processor):
    top: int = 5

    def process(self, doc: Document) -> Document:
        words = [w.strip(".,;:!?#()").lower() for w in (doc.text or "").split()]
        words = [w for w in words if w]
        doc.metadata["words"] = len(words)
        doc.metadata["lines"] = (doc.text or "").count("\n") + 1
        doc.metadata["top_words"] = Counter(words).most_common(self.top)
        return doc


pipeline = Pipeline(
    Files(url=str(CORPUS)),
    [Decode(), ExtractJson(), WordStats()],
    JsonFiles(folder=Path("demo-output")),
    name="demo",
)
