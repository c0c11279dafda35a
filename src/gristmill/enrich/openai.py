"""Clients for an OpenAI-compatible HTTP API: chat completions and embeddings.

The standard library's ``urllib`` does the requests (one small JSON body each; no extra
dependency). The base URL comes from the field, else ``GRISTMILL_OPENAI_BASE_URL``, else
OpenAI's; the key from the field, else ``OPENAI_API_KEY``. The key travels in the
``Authorization`` header only, and is a `SecretStr`: never in a repr, a dump, a log line or
the ledger. A local server (vLLM, Ollama, llama.cpp) needs no key.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from gristmill._exceptions import ConfigError, ProcessingError
from gristmill.enrich.client import (
    ApiClient,
    Embedder,
    Summarizer,
    Throttled,
    Unreachable,
    estimate_tokens,
    excerpt,
)
from gristmill.ratelimit import parse_retry_after
from gristmill.storage.urls import redact

OPENAI_URL = "https://api.openai.com/v1"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
PROMPT = "Summarise the following passage in one or two sentences. Answer with the summary only."


def _base_url() -> str:
    return os.environ.get("GRISTMILL_OPENAI_BASE_URL") or OPENAI_URL


def _api_key() -> SecretStr | None:
    key = os.environ.get("OPENAI_API_KEY")
    return SecretStr(key) if key else None


class OpenAIClient(ApiClient):
    """What both OpenAI-compatible clients share: where, with which key, and one POST."""

    base_url: str = Field(default_factory=_base_url, validate_default=True)
    api_key: SecretStr | None = Field(default_factory=_api_key, exclude=True)
    model: str

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url looks like https://api.openai.com/v1; found {redact(url)!r}")
        return url.rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={redact(self.base_url)!r}, model={self.model!r})"

    def setup(self) -> None:
        if self.api_key is None and self.base_url == OPENAI_URL:
            raise ConfigError(f"{self!r}: no API key; set OPENAI_API_KEY or give api_key=")

    def post(self, path: str, payload: dict[str, Any], *, tokens: int) -> Any:
        """POST ``payload`` to ``base_url/path`` and return the JSON answer."""
        url = f"{self.base_url}/{path}"
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"

        def send() -> Any:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    return json.loads(answer.read())
            except urllib.error.HTTPError as exc:
                reason = self.scrub(_reason(exc))
                if exc.code in RETRY_STATUS:
                    wait = parse_retry_after(exc.headers.get("Retry-After"))
                    raise Throttled(f"HTTP {exc.code}: {reason}", wait) from None
                raise ProcessingError(
                    f"{self!r}: POST {redact(url)}: HTTP {exc.code}: {reason}", processor=type(self).__name__
                ) from None
            except (http.client.HTTPException, OSError) as exc:
                # the service briefly away, or its answer cut short: retried like throttling
                raise Unreachable(_unreachable(redact(url), exc, self.timeout)) from None
            except ValueError as exc:
                raise ProcessingError(f"{self!r}: POST {redact(url)}: not JSON: {exc}") from None

        return self.call(f"{self!r}: POST {path}", send, tokens=tokens)


def _unreachable(url: str, exc: BaseException, timeout: float) -> str:
    """What went wrong with a request that got no whole answer, in words."""
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError):
        return f"POST {url} timed out (no answer within {timeout:g} s)"
    text, name = str(cause), type(cause).__name__
    if isinstance(cause, BaseException) and not text.startswith(name):
        text = f"{name}: {text}" if text else name
    if isinstance(exc, urllib.error.URLError):
        return f"could not reach {url}: {text}"
    return f"POST {url}: the connection broke before the whole answer came ({text})"


def _reason(exc: urllib.error.HTTPError) -> str:
    """The service's error message, one line (an OpenAI error body, or the first bytes)."""
    try:
        data = exc.read()
    except OSError:
        return exc.reason or ""
    try:
        error = json.loads(data).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or exc.reason)
    except (ValueError, AttributeError):
        return data[:200].decode("utf-8", "replace") or str(exc.reason)


class OpenAISummarizer(OpenAIClient, Summarizer):
    """Summaries from ``POST /chat/completions``, one request per text, ``concurrency``
    requests at once per worker (the rate limits hold across all of them)."""

    model: str = "gpt-4o-mini"
    prompt: str = PROMPT
    max_tokens: int = Field(default=200, ge=1)
    temperature: float = 0.0
    concurrency: int = Field(default=4, ge=1)
    not_settings: ClassVar[frozenset[str]] = OpenAIClient.not_settings | {"concurrency"}

    def summarize(self, texts: Sequence[str]) -> list[str]:
        if self.concurrency == 1 or len(texts) < 2:
            return [self._one(text) for text in texts]
        with ThreadPoolExecutor(min(self.concurrency, len(texts))) as pool:
            return list(pool.map(self._one, texts))

    def _one(self, text: str) -> str:
        payload = {
            "model": self.model,
            "messages": [{"role": "system", "content": self.prompt}, {"role": "user", "content": text}],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        answer = self.post("chat/completions", payload, tokens=estimate_tokens([text], self.max_tokens))
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str):
            raise ProcessingError(
                f"{self!r}: an unexpected chat completion: choices[0].message.content should be "
                f"the summary's text; the answer was {excerpt(answer)}",
                processor=type(self).__name__,
            )
        return content.strip()


class OpenAIEmbedder(OpenAIClient, Embedder):
    """Vectors from ``POST /embeddings``, ``batch_size`` texts a request."""

    model: str = "text-embedding-3-small"
    dimensions: int | None = Field(default=None, ge=1)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        payload: dict[str, Any] = {"model": self.model, "input": list(texts)}
        if self.dimensions is not None:
            payload["dimensions"] = self.dimensions
        answer = self.post("embeddings", payload, tokens=estimate_tokens(texts))
        try:
            vectors = _vectors(answer)
        except ValueError as exc:
            raise ProcessingError(
                f"{self!r}: an unexpected embeddings answer: {exc}", processor=type(self).__name__
            ) from None
        if len(vectors) != len(texts):
            raise ProcessingError(f"{self!r}: {len(vectors)} embeddings came back for {len(texts)} texts")
        return vectors


def _vectors(answer: Any) -> list[list[float]]:
    """The vectors of an embeddings answer, in input order; ValueError says what is amiss."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        raise ValueError(f"'data' should be a list of embeddings; the answer was {excerpt(answer)}")
    rows: list[tuple[int, list[float]]] = []
    for position, row in enumerate(data):
        vector = row.get("embedding") if isinstance(row, dict) else None
        index = row.get("index", position) if isinstance(row, dict) else None
        if not isinstance(index, int):
            raise ValueError(f"data[{position}].index should be a number; found {excerpt(index)}")
        if not isinstance(vector, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector
        ):
            raise ValueError(
                f"data[{position}].embedding should be a list of numbers; found {excerpt(vector)}"
            )
        rows.append((index, [float(x) for x in vector]))
    return [vector for _, vector in sorted(rows, key=lambda row: row[0])]
