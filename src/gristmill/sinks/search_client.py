"""A small HTTP client for the few OpenSearch endpoints the sink uses.

``http.client`` on one kept-alive connection: a bulk request is one big body and one
JSON answer, and a general client's per-request work (serialising, logging, header
dicts) would cost more than building the body does. Throttling (429) and an overloaded
or unreachable cluster are retried with exponential backoff and jitter, honouring
``Retry-After``. Credentials (``user:password@`` in the URL, an API key, AWS SigV4) go
into headers only; the URL is always shown without them.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urlsplit

import orjson

from gristmill._exceptions import ConfigError, SinkError
from gristmill.ratelimit import RateLimit, backoff_delay, parse_retry_after
from gristmill.storage.urls import check_password, redact

RETRY_STATUS = frozenset({429, 502, 503, 504})
TIMEOUT = 60.0


class Response(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def reason(self) -> str:
        """The server's error, as one line: ``type: reason``."""
        try:
            error = self.json().get("error")
        except (orjson.JSONDecodeError, AttributeError):
            return self.body[:200].decode("utf-8", "replace") or f"HTTP {self.status}"
        return describe_error(error) if error else f"HTTP {self.status}"


def describe_error(error: Any) -> str:
    if isinstance(error, dict):
        cause = error.get("caused_by")
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        return f"{text} (caused by {describe_error(cause)})" if isinstance(cause, dict) else text
    return str(error)


class SearchClient:
    """One connection to a cluster at ``url`` (``http(s)://[user:password@]host:port``)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        aws_region: str | None = None,
        verify_certs: bool = True,
        retries: int = 8,
        backoff: float = 0.5,
        timeout: float = TIMEOUT,
        rate_limit: RateLimit | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_password(url, "the OpenSearch URL")
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise ConfigError(f"an OpenSearch URL looks like https://host:9200; found {redact(url)!r}")
        self.url = redact(url)
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = port or (443 if parts.scheme == "https" else 9200)
        self.prefix = parts.path.rstrip("/")
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self.rate_limit, self.sleep = rate_limit, sleep
        self.verify_certs = verify_certs
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        if api_key:
            self.headers["Authorization"] = f"ApiKey {api_key}"
        self._signer = _aws_signer(aws_region) if aws_region else None
        self._conn: http.client.HTTPConnection | None = None

    def __repr__(self) -> str:
        return f"SearchClient({self.url!r})"

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                context = ssl.create_default_context()
                if not self.verify_certs:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._conn = _Https(self.host, self.port, timeout=self.timeout, context=context)
            else:
                self._conn = _Http(self.host, self.port, timeout=self.timeout)
        return self._conn

    def __enter__(self) -> SearchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> Response:
        """One request, no retries; a connection that broke is reopened once."""
        target = self.prefix + "/" + quote(path.lstrip("/"), safe="/_,*?=&%-.")
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        if self._signer is not None:
            headers.update(self._signer(method, f"{self.scheme}://{self.host}:{self.port}{target}", body))
        if self.rate_limit is None:
            return self._send(method, target, body, headers)
        with self.rate_limit.hold():
            return self._send(method, target, body, headers)

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> Response:
        for reopened in (False, True):
            conn = self._connection()
            try:
                conn.request(method, target, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            except (http.client.HTTPException, OSError) as exc:
                self.close()  # a kept-alive connection the server closed: try a fresh one
                if reopened:
                    reason = f"{type(exc).__name__}: {exc}"
                    raise SinkError(f"OpenSearch at {self.url} cannot be reached: {reason}") from None
                continue
            return Response(answer.status, data, {k.lower(): v for k, v in answer.getheaders()})
        raise AssertionError("unreachable")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str | None = None,
        ok: tuple[int, ...] = (200, 201),
        unreachable_retries: bool = True,
    ) -> Response:
        """A request retried while the cluster throttles or is briefly away; any status
        outside ``ok`` (after retries) raises `SinkError` with the server's reason.

        ``unreachable_retries=False`` raises at once when no connection can be made (a wrong
        URL at start-up), while statuses that mean "busy" (429, 502-504) are still retried.
        """
        data = body if body is None or isinstance(body, bytes) else orjson.dumps(body)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.send(method, path, data, content_type)
            except SinkError:
                if attempt > self.retries or not unreachable_retries:
                    raise
                self.sleep(backoff_delay(self.backoff, attempt, None))
                continue
            if response.status in ok:
                return response
            if response.status in RETRY_STATUS and attempt <= self.retries:
                wait = retry_after(response.headers)
                self.sleep(backoff_delay(self.backoff, attempt, wait, asker=f"OpenSearch at {self.url}"))
                continue
            tries = f" ({attempt} tries)" if response.status in RETRY_STATUS else ""
            raise SinkError(f"OpenSearch at {self.url}: {method} {path}: {response.reason()}{tries}")

    def exists(self, path: str) -> bool:
        """Whether the index (or document) at PATH is there: only 200 or 404 decide, and a
        throttled or busy answer is retried like any request's."""
        return self.request("HEAD", path, ok=(200, 404)).status == 200


class _Http(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stalls


class _Https(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def retry_after(headers: dict[str, str]) -> float | None:
    return parse_retry_after(headers.get("retry-after"))


def _aws_signer(region: str) -> Callable[[str, str, bytes | None], dict[str, str]]:
    """SigV4 headers for Amazon OpenSearch Service, with the standard AWS credentials."""
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.session import Session
    except ImportError as exc:
        raise ConfigError("AWS SigV4 needs boto3: pip install boto3") from exc
    credentials = Session().get_credentials()
    if credentials is None:
        raise ConfigError("AWS SigV4: no AWS credentials found (AWS_ACCESS_KEY_ID, a profile, a role)")

    def sign(method: str, url: str, body: bytes | None) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body or b"")
        SigV4Auth(credentials.get_frozen_credentials(), "es", region).add_auth(request)
        return dict(request.headers.items())

    return sign
