"""Clients for Amazon Bedrock (``pip install 'gristmill[bedrock]'``): summaries through the
Converse API, embeddings through a Titan embedding model.

boto3 is imported in the worker, on first use, so the package imports without it. boto3's
own retries are turned off: throttling (``ThrottlingException`` and its kin) is retried
here, under the run's shared rate limits, like every other API client. Credentials come
from the standard AWS chain (environment, profile, role) and are never stored here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import Field, PrivateAttr

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
from gristmill.enrich.openai import PROMPT

T = TypeVar("T")
THROTTLING = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "InternalServerException",
    }
)


class BedrockClient(ApiClient):
    """A ``bedrock-runtime`` client made once per worker (``region``, ``endpoint_url``)."""

    imports = ("boto3",)  # a few tenths of a second: once, in the pool's fork server

    model_id: str
    region: str | None = None
    endpoint_url: str | None = None  # a VPC endpoint, or a test server
    not_settings: ClassVar[frozenset[str]] = ApiClient.not_settings | {"region", "endpoint_url"}

    _runtime: Any = PrivateAttr(default=None)

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = {**(state.get("__pydantic_private__") or {}), "_runtime": None}
        return state

    def setup(self) -> None:
        self.runtime()

    def runtime(self) -> Any:
        if self._runtime is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise ConfigError(
                    f"{type(self).__name__} needs boto3: pip install 'gristmill[bedrock]'"
                ) from exc
            config = Config(
                retries={"max_attempts": 1, "mode": "standard"},  # retried here, under the rate limits
                read_timeout=self.timeout,
                connect_timeout=min(self.timeout, 10.0),
            )
            self._runtime = boto3.client(
                "bedrock-runtime", region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
        return self._runtime

    def request(self, what: str, send: Callable[[Any], T], *, tokens: int) -> T:
        """``send(runtime)`` under the rate limits; throttling retried, other errors translated."""
        runtime = self.runtime()  # first: it says what to install when boto3 is missing
        from botocore.exceptions import BotoCoreError, ClientError

        def attempt() -> T:
            try:
                return send(runtime)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in THROTTLING or status == 429:
                    raise Throttled(f"{code or status}: {error.get('Message', '')}") from None
                raise ProcessingError(
                    f"{type(self).__name__}({self.model_id}): {what}: {code}: {error.get('Message', '')}",
                    processor=type(self).__name__,
                ) from None
            except BotoCoreError as exc:  # the endpoint unreachable, a timeout, a broken answer: retried
                raise Unreachable(f"{type(exc).__name__}: {exc}") from None

        return self.call(f"{type(self).__name__}({self.model_id}): {what}", attempt, tokens=tokens)


class BedrockSummarizer(BedrockClient, Summarizer):
    """Summaries from the Converse API, one request per text."""

    model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    prompt: str = PROMPT
    max_tokens: int = Field(default=200, ge=1)
    temperature: float = 0.0

    def summarize(self, texts: Sequence[str]) -> list[str]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> str:
        def send(runtime: Any) -> Any:
            return runtime.converse(
                modelId=self.model_id,
                system=[{"text": self.prompt}],
                messages=[{"role": "user", "content": [{"text": text}]}],
                inferenceConfig={"maxTokens": self.max_tokens, "temperature": self.temperature},
            )

        answer = self.request("converse", send, tokens=estimate_tokens([text], self.max_tokens))
        try:
            parts = answer["output"]["message"]["content"]
            return "".join(part.get("text", "") for part in parts).strip()
        except (KeyError, TypeError) as exc:
            raise ProcessingError(
                f"BedrockSummarizer({self.model_id}): an unexpected answer: no {exc}"
            ) from None


class BedrockEmbedder(BedrockClient, Embedder):
    """Vectors from a Titan text embedding model (``InvokeModel``), one request per text."""

    model_id: str = "amazon.titan-embed-text-v2:0"
    dimensions: int | None = Field(default=None, ge=1)
    normalize: bool = True

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        payload: dict[str, Any] = {"inputText": text, "normalize": self.normalize}
        if self.dimensions is not None:
            payload["dimensions"] = self.dimensions

        def send(runtime: Any) -> Any:
            answer = runtime.invoke_model(
                modelId=self.model_id,
                body=json.dumps(payload).encode(),
                contentType="application/json",
                accept="application/json",
            )
            return json.loads(answer["body"].read())

        answer = self.request("invoke_model", send, tokens=estimate_tokens([text]))
        vector = answer.get("embedding") if isinstance(answer, dict) else None
        if not isinstance(vector, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector
        ):
            raise ProcessingError(
                f"BedrockEmbedder({self.model_id}): an unexpected answer: 'embedding' should be a "
                f"list of numbers; the answer was {excerpt(answer)}",
                processor=type(self).__name__,
            )
        return [float(x) for x in vector]
