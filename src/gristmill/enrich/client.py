"""The client protocols of `Summarize` and `Embed`, and what every API client shares.

A client is a pydantic model (its fields are configuration, hashed into the step's
``processing_history`` like any processor's) with one method: ``summarize(texts)`` or
``embed(texts)``, a list in, a list of the same length out. Subclass `Summarizer` or
`Embedder` to bring another model or service.

`ApiClient` is the part the HTTP and Bedrock clients share: a `RateLimit` on requests
and one on tokens, both shared by every worker of a run, and retries inside the client on
throttling (`Throttled`; exponential backoff with jitter, never sooner than ``Retry-After``,
at most five minutes) and on a service briefly away (`Unreachable`: a timeout, a reset
connection, an answer cut short), so one such request never redoes a whole book's work.
Once ``retries`` are spent it raises `TransientError`, and the worker tries the item again
later with its own backoff.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from gristmill._exceptions import TransientError
from gristmill.ratelimit import RateLimit, backoff_delay
from gristmill.storage.urls import MASK, redact

T = TypeVar("T")
CHARS_PER_TOKEN = 4  # a common rough rule for English; only budgets a token limit


class Client(BaseModel):
    """Configuration of a model or service; ``setup()`` runs once per worker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: texts handed to one call of ``summarize`` / ``embed``
    batch_size: int = Field(default=64, ge=1)

    #: what its workers import from the start (see `gristmill.Processor.imports`)
    imports: ClassVar[tuple[str, ...]] = ()

    #: fields that change how it works, not what it returns (see `gristmill.Processor.not_settings`)
    not_settings: ClassVar[frozenset[str]] = frozenset({"batch_size"})

    def setup(self) -> None:
        """Load a model, open a session: once per worker, before the first item."""


class Summarizer(Client):
    """The summary protocol: one summary per text, in order."""

    def summarize(self, texts: Sequence[str]) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} must implement summarize(texts)")


class Embedder(Client):
    """The embedding protocol: one vector (a list of floats) per text, in order."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError(f"{type(self).__name__} must implement embed(texts)")


class Throttled(Exception):
    """Raised by a client's request when the service throttles it (429, ThrottlingException)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Unreachable(Exception):
    """Raised by a client's request when the service gave no whole answer (a timeout, a
    refused or reset connection, an answer cut short): retried like throttling."""


class ApiClient(Client):
    """Rate limits and throttling retries for a client that calls a remote API.

    ``rate_limit`` counts requests (``RateLimit("10/s")``) and ``token_limit`` tokens
    (``RateLimit("90000/min")``, estimated at four characters a token before the request);
    make them once and every worker of the run shares them.
    """

    rate_limit: RateLimit | None = None
    token_limit: RateLimit | None = None
    retries: int = Field(default=6, ge=0)
    backoff: float = Field(default=1.0, ge=0)
    timeout: float = Field(default=60.0, gt=0)

    not_settings: ClassVar[frozenset[str]] = Client.not_settings | {
        "rate_limit",
        "token_limit",
        "retries",
        "backoff",
        "timeout",
    }

    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)

    def scrub(self, text: str) -> str:
        """TEXT, a service's answer, without this client's secrets: a service or a proxy may
        repeat the key in its error, which would go to the ledger and the reports."""
        for value in self.__dict__.values():
            if isinstance(value, SecretStr) and value.get_secret_value():
                text = text.replace(value.get_secret_value(), MASK)
        return redact(text)

    def call(self, what: str, send: Callable[[], T], *, tokens: int = 0) -> T:
        """``send()`` under the rate limits, retried while throttled."""
        if self.token_limit is not None and tokens:
            self.token_limit.acquire(tokens)
        attempt = 0
        while True:
            attempt += 1
            try:
                if self.rate_limit is None:
                    return send()
                with self.rate_limit.hold():
                    return send()
            except (Throttled, Unreachable) as exc:
                wait = exc.retry_after if isinstance(exc, Throttled) else None
                if attempt > self.retries:
                    happened = "throttled" if isinstance(exc, Throttled) else "failed"
                    raise TransientError(
                        f"{what}: {happened} {attempt} times ({exc}); the item will be tried again later",
                        processor=type(self).__name__,
                        retry_after=wait,
                    ) from None
                self._sleep(backoff_delay(self.backoff, attempt, wait, asker=what))


def estimate_tokens(texts: Sequence[str], extra: int = 0) -> int:
    """Tokens a request will use, roughly: its texts' length, plus ``extra`` (the answer)."""
    return sum(len(text) for text in texts) // CHARS_PER_TOKEN + 1 + extra


def excerpt(value: Any, limit: int = 120) -> str:
    """VALUE of a service's answer as JSON (``null`` for None), cut to LIMIT characters."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dump_type(client: Any) -> str:
    return f"{type(client).__module__}.{type(client).__qualname__}"
