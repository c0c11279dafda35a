"""Summaries and embeddings: the ``Summarize`` and ``Embed`` steps and their clients.

Offline defaults (`ExtractiveSummarizer`, `HashingEmbedder`); OpenAI-compatible HTTP
(`OpenAISummarizer`, `OpenAIEmbedder`); Amazon Bedrock (`BedrockSummarizer`,
`BedrockEmbedder`; needs boto3); sentence-transformers (`SentenceTransformerEmbedder`).
Subclass `Summarizer` or `Embedder` for another; `ApiClient` adds shared rate limits and
retries (raise `Throttled` or `Unreachable` from a request).
"""

from gristmill.enrich.bedrock import BedrockEmbedder, BedrockSummarizer
from gristmill.enrich.client import ApiClient, Client, Embedder, Summarizer, Throttled, Unreachable
from gristmill.enrich.offline import ExtractiveSummarizer, HashingEmbedder
from gristmill.enrich.openai import OpenAIEmbedder, OpenAISummarizer
from gristmill.enrich.sentence import SentenceTransformerEmbedder
from gristmill.enrich.steps import Embed, Summarize

__all__ = [
    "ApiClient",
    "BedrockEmbedder",
    "BedrockSummarizer",
    "Client",
    "Embed",
    "Embedder",
    "ExtractiveSummarizer",
    "HashingEmbedder",
    "OpenAIEmbedder",
    "OpenAISummarizer",
    "SentenceTransformerEmbedder",
    "Summarize",
    "Summarizer",
    "Throttled",
    "Unreachable",
]
