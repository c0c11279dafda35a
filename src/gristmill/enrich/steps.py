"""``Summarize`` and ``Embed``: a document's elements (chunks, usually) summarised and embedded.

Each step hands the texts of one document to its client in groups of the client's
``batch_size`` and puts the answers on the elements, as an extra field (``summary``,
``embedding``): the names `OpenSearchSink` and ``gristmill index`` look for, so a default
index maps the vectors as ``knn_vector``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

import orjson
from pydantic import Field, SerializeAsAny

from gristmill._exceptions import ProcessingError
from gristmill.enrich.client import Client, Embedder, Summarizer, dump_type
from gristmill.enrich.offline import ExtractiveSummarizer, HashingEmbedder
from gristmill.processors import Processor
from gristmill.samples import Document, Element


class _ElementStep(Processor):
    client: SerializeAsAny[Client]
    field: str
    source: str = "text"  # the element field read
    target: Literal["elements", "document"] = "elements"

    def config_hash(self) -> str:
        # the client's class is configuration too: another client, another result
        payload = orjson.dumps([super().config_hash(), dump_type(self.client)])
        return hashlib.sha256(payload).hexdigest()[:16]

    def setup(self) -> None:
        self.client.setup()

    def all_imports(self) -> tuple[str, ...]:
        return (*self.imports, *self.client.imports)

    def _texts(self, sample: Any) -> tuple[Document, list[str]]:
        if not isinstance(sample, Document):
            raise ProcessingError(
                f"{self.name} needs a Document (run Partition, and Chunk, first); "
                f"found {type(sample).__name__}",
                processor=self.name,
            )
        if self.target == "document":
            text = sample.text if sample.text is not None else "\n\n".join(e.text for e in sample.elements)
            return sample, [text]
        texts = [getattr(element, self.source, None) or "" for element in sample.elements]
        return sample, [str(text) for text in texts]

    def _put(self, doc: Document, values: Sequence[Any]) -> Document:
        if self.target == "document":
            return doc.model_copy(update={"metadata": {**doc.metadata, self.field: values[0]}})
        elements = [
            _with(element, self.field, value) for element, value in zip(doc.elements, values, strict=True)
        ]
        return doc.model_copy(update={"elements": elements})

    def _batches(self, texts: list[str]) -> list[list[str]]:
        size = self.client.batch_size
        return [texts[start : start + size] for start in range(0, len(texts), size)]

    def _check(self, got: Sequence[Any], wanted: int) -> None:
        if len(got) != wanted:
            raise ProcessingError(
                f"{self.name}: {type(self.client).__name__} returned {len(got)} results for {wanted} texts",
                processor=self.name,
            )


def _with(element: Element, field: str, value: Any) -> Element:
    copied = element.model_copy()
    setattr(copied, field, value)  # elements allow extra fields
    return copied


class Summarize(_ElementStep):
    """Puts a summary of each element's text in its ``summary`` field (or, with
    ``target="document"``, one of the whole document in ``metadata["summary"]``).

    ``client`` is any `Summarizer`: `ExtractiveSummarizer` (the default; offline),
    `OpenAISummarizer`, `BedrockSummarizer`, or your own.
    """

    client: SerializeAsAny[Summarizer] = Field(default_factory=ExtractiveSummarizer)
    field: str = "summary"

    def process(self, sample: Any) -> Document:
        doc, texts = self._texts(sample)
        summaries: list[str] = []
        for batch in self._batches(texts):
            got = self.client.summarize(batch)
            self._check(got, len(batch))
            summaries.extend(got)
        return self._put(doc, summaries)


class Embed(_ElementStep):
    """Puts a vector of each element's text (or of its ``source`` field, ``summary`` say) in
    its ``embedding`` field (or, with ``target="document"``, in ``metadata["embedding"]``).

    ``client`` is any `Embedder`: `HashingEmbedder` (the default; offline),
    `SentenceTransformerEmbedder`, `OpenAIEmbedder`, `BedrockEmbedder`, or your own.
    """

    client: SerializeAsAny[Embedder] = Field(default_factory=HashingEmbedder)
    field: str = "embedding"

    def process(self, sample: Any) -> Document:
        doc, texts = self._texts(sample)
        vectors: list[list[float]] = []
        for batch in self._batches(texts):
            got = self.client.embed(batch)
            self._check(got, len(batch))
            vectors.extend(got)
        dims = {len(vector) for vector in vectors}
        if len(dims) > 1:
            raise ProcessingError(
                f"{self.name}: vectors of different lengths {sorted(dims)}", processor=self.name
            )
        return self._put(doc, vectors)
