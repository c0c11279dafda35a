"""The offline defaults: an extractive summariser and a hashing embedder.

Both are deterministic and need no network, no model and no extra package, so a pipeline
(and its tests, and the books example) runs anywhere; swap in an API client or
sentence-transformers for real quality.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from pydantic import Field

from gristmill.enrich.client import Embedder, Summarizer

_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_COMMON = (
    "a an and are as at be been but by for from had has have he her his i in into is it its "
    "me my no not of on or our she so that the their them then there they this to was we "
    "were what when which who will with would you your"
)
STOPWORDS = frozenset(_COMMON.split())  # too common to say what a text is about


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences at ``.``, ``!`` or ``?`` followed by a capital."""
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class ExtractiveSummarizer(Summarizer):
    """The ``sentences`` sentences that best carry the text's frequent words, in text order.

    A sentence scores the mean frequency (in the whole text) of its words, so long
    sentences do not win by length alone; ties go to the earlier sentence. The summary is
    cut at ``max_characters``, at a word boundary.
    """

    sentences: int = Field(default=2, ge=1)
    max_characters: int = Field(default=400, ge=20)

    def summarize(self, texts: Sequence[str]) -> list[str]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> str:
        found = sentences(text)
        if len(found) <= self.sentences:
            return self._cut(" ".join(found))
        counts = Counter(words(text))
        scores = []
        for position, sentence in enumerate(found):
            own = words(sentence)
            score = sum(counts[w] for w in own) / math.sqrt(len(own)) if own else 0.0
            scores.append((-score, position))
        chosen = sorted(position for _, position in sorted(scores)[: self.sentences])
        return self._cut(" ".join(found[p] for p in chosen))

    def _cut(self, summary: str) -> str:
        if len(summary) <= self.max_characters:
            return summary
        return summary[: self.max_characters - 1].rsplit(" ", 1)[0] + "…"


class HashingEmbedder(Embedder):
    """Word (and, with ``ngrams=2``, word-pair) counts hashed into ``dimensions`` slots, each
    with a hashed sign, log-scaled and L2-normalised: texts that share words point the same
    way. The same text gives the same vector on every machine (BLAKE2, not ``hash()``)."""

    dimensions: int = Field(default=256, ge=2)
    ngrams: int = Field(default=2, ge=1, le=3)
    digits: int = Field(default=6, ge=1)  # rounded: shorter JSON, the same on every platform

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        tokens = words(text)
        grams = list(tokens)
        for n in range(2, self.ngrams + 1):
            grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        vector = [0.0] * self.dimensions
        for gram, count in Counter(grams).items():
            slot, sign = _slot(gram, self.dimensions)
            vector[slot] += sign * (1.0 + math.log(count))
        norm = math.sqrt(sum(x * x for x in vector))
        if norm == 0:
            return vector
        return [round(x / norm, self.digits) for x in vector]


@lru_cache(maxsize=1 << 16)
def _slot(gram: str, dimensions: int) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "big")
    return digest % dimensions, 1.0 if digest >> 63 else -1.0
