"""A stand-in for OpenSearch on loopback, for tests and benchmarks. It is not OpenSearch.

No OpenSearch server can run where gristmill is developed, so this small HTTP server
implements the subset of the REST API that `OpenSearchSink` and ``gristmill index`` use,
with the same request and answer shapes: ``_bulk`` (index, create and delete actions, one
result per action, 429 and 400 per document), index create / delete / exists, ``_doc``,
``_count``, ``_refresh``, ``_delete_by_query``, ``_settings`` and ``_mapping``. Queries
understand ``match_all``, ``term``, ``terms``, ``ids``, ``range`` and ``bool``. As in
OpenSearch, ``_count`` and queries see only refreshed documents when the index's
``refresh_interval`` is ``-1``. A mapping's ``integer``/``long``/``float``/``boolean``/
``keyword``/``knn_vector`` fields are checked, and a document that does not fit is refused
with a ``mapper_parsing_exception`` (400).

For tests it can throttle (``throttle_docs``: the share of bulk documents answered 429;
``throttle_requests``: the share of requests answered 429 with ``Retry-After``;
``throttle_next``: how many of the next requests, whatever they are, to answer so), ask for
credentials (``users``, ``api_keys``), answer slowly (``delay``) and records every request's arrival time
(``requests``, ``most_in_window``). Run it in a thread (``with StandInOpenSearch() as
server: server.url``) or in its own process: ``python -m gristmill.testing --port 9200``.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import gc
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from gristmill.testing.index import Index, doc_error
from gristmill.testing.query import matches

Json = dict[str, Any]


class StandInOpenSearch:
    """The stand-in server (see the module's docstring). Thread-safe; one lock for all."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        throttle_docs: float = 0.0,
        throttle_requests: float = 0.0,
        retry_after: float = 0.0,
        throttle_next: int = 0,
        delay: float = 0.0,
        users: dict[str, str] | None = None,
        api_keys: tuple[str, ...] = (),
        seed: int = 0,
    ) -> None:
        self.indices: dict[str, Index] = {}
        self.requests: list[tuple[float, str, str]] = []  # (arrival, method, path)
        self.throttle_docs = throttle_docs
        self.throttle_requests = throttle_requests
        self.retry_after = retry_after
        self.throttle_next = throttle_next
        self.delay = delay
        self.users = users or {}
        self.api_keys = api_keys
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.server = _Server((host, port), _handler(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StandInOpenSearch:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="opensearch-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> StandInOpenSearch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def most_in_window(self, seconds: float = 1.0, path: str | None = None) -> int:
        """The most requests (to ``path``, if given) that arrived within any ``seconds``."""
        times = sorted(t for t, _, p in self.requests if path is None or p == path)
        return max((bisect.bisect_left(times, t + seconds) - i for i, t in enumerate(times)), default=0)

    # -- request handling ------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[int, Json | None, dict[str, str]]:
        parts = urlsplit(target)
        path = unquote(parts.path)
        if self.delay:
            time.sleep(self.delay)  # a slow cluster: a run then lasts long enough to be killed
        with self.lock:
            self.requests.append((time.time(), method, path))
            if not self._authorised(headers.get("Authorization")):
                return (
                    401,
                    {
                        "error": {"type": "security_exception", "reason": "missing or wrong credentials"},
                        "status": 401,
                    },
                    {},
                )
            if self.throttle_next > 0:
                self.throttle_next -= 1
                throttled = True
            else:
                throttled = bool(self.throttle_requests) and self.random.random() < self.throttle_requests
            if throttled:
                error = {"type": "rejected_execution_exception", "reason": "stand-in throttled the request"}
                return 429, {"error": error, "status": 429}, {"Retry-After": f"{self.retry_after:g}"}
            return self._route(method, [p for p in path.split("/") if p], parse_qs(parts.query), body)

    def _authorised(self, header: str | None) -> bool:
        if not self.users and not self.api_keys:
            return True
        if header is None:
            return False
        kind, _, value = header.partition(" ")
        if kind == "ApiKey":
            return value in self.api_keys
        if kind == "Basic":
            user, _, password = base64.b64decode(value).decode().partition(":")
            return self.users.get(user) == password
        return False

    def _route(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Json | None, dict[str, str]]:
        if not parts:
            return (
                200,
                {"name": "stand-in", "version": {"distribution": "opensearch", "number": "2.17.0"}},
                {},
            )
        if parts == ["_bulk"]:
            return 200, self._bulk(None, body), {}
        name = parts[0]
        index = self.indices.get(name)
        rest = parts[1:]
        if not rest:
            if method == "HEAD":
                return (200 if index else 404), None, {}
            if method == "PUT":
                if index is not None:
                    return (
                        400,
                        _error(400, "resource_already_exists_exception", f"index [{name}] already exists"),
                        {},
                    )
                self.indices[name] = Index(name, orjson.loads(body) if body else {})
                return 200, {"acknowledged": True, "index": name}, {}
            if method == "DELETE":
                if index is None:
                    return 404, _missing(name), {}
                del self.indices[name]
                return 200, {"acknowledged": True}, {}
        if rest == ["_bulk"]:
            return 200, self._bulk(name, body), {}
        if index is None and rest[0] == "_doc" and method in ("PUT", "POST"):
            index = self.indices[name] = Index(name, {})  # as OpenSearch does: made on first write
        if index is None:
            return 404, _missing(name), {}
        action = rest[0]
        if action == "_refresh":
            index.refresh()
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}, {}
        if action == "_count":
            query_body = orjson.loads(body).get("query") if body else None
            found = sum(1 for doc_id, doc in index.searchable().items() if matches(query_body, doc_id, doc))
            return 200, {"count": found}, {}
        if action == "_delete_by_query":
            query_body = orjson.loads(body).get("query")
            doomed = [
                doc_id for doc_id, doc in index.searchable().items() if matches(query_body, doc_id, doc)
            ]
            for doc_id in doomed:
                index.delete(doc_id)
            return 200, {"deleted": len(doomed), "total": len(doomed), "failures": []}, {}
        if action == "_settings":
            if method == "PUT":
                update = orjson.loads(body)
                for key, value in (update.get("index", update)).items():
                    if value is None:
                        index.settings.pop(key, None)
                    else:
                        index.settings[key] = _setting(value)
                return 200, {"acknowledged": True}, {}
            return (
                200,
                {name: {"settings": {"index": {k: _setting(v) for k, v in index.settings.items()}}}},
                {},
            )
        if action == "_mapping":
            return 200, {name: {"mappings": index.mappings}}, {}
        if action == "_doc" and len(rest) == 2:
            if method in ("PUT", "POST"):
                result = index.write(rest[1], orjson.loads(body), create=False)
                return result["status"], result, {}
            if method == "GET":
                doc = index.docs.get(rest[1])
                return (
                    (200, {"_id": rest[1], "found": True, "_source": doc}, {})
                    if doc
                    else (404, {"found": False}, {})
                )
        return (
            400,
            _error(
                400, "illegal_argument_exception", f"the stand-in does not know {method} /{'/'.join(parts)}"
            ),
            {},
        )

    def _bulk(self, default_index: str | None, body: bytes) -> Json:
        try:  # every line in one C call: the stand-in must not be what a benchmark measures
            parsed = iter(orjson.loads(b"[" + body.strip().replace(b"\n", b",") + b"]"))
        except orjson.JSONDecodeError:  # blank lines between the others
            lines = [line for line in body.split(b"\n") if line.strip()]
            parsed = iter(orjson.loads(b"[" + b",".join(lines) + b"]"))
        index = self.indices.get(default_index or "")
        if index is not None and not self.throttle_docs:
            fast = index.index_all(parsed)
            if fast is not None:
                return fast
            parsed = iter(orjson.loads(b"[" + body.strip().replace(b"\n", b",") + b"]"))
        items = []
        errors = False
        for entry in parsed:
            action, meta = next(iter(entry.items()))
            source = None if action == "delete" else next(parsed)
            name = meta.get("_index", default_index)
            doc_id = meta.get("_id")
            index = self.indices.get(name) if name else None
            if index is None and name and action != "delete":
                index = self.indices[name] = Index(name, {})  # as OpenSearch does: made on first write
            if index is None:
                problem = doc_error(404, "index_not_found_exception", f"no such index [{name}]")
                result = {"_index": name, "_id": doc_id, **problem}
            elif self.throttle_docs and self.random.random() < self.throttle_docs:
                problem = doc_error(429, "es_rejected_execution_exception", "stand-in throttled the document")
                result = {"_index": name, "_id": doc_id, **problem}
            elif action == "delete":
                result = index.delete(doc_id)
            else:
                if doc_id is None:
                    doc_id = base64.urlsafe_b64encode(self.random.randbytes(15)).decode()
                result = index.write(doc_id, source or {}, create=action == "create")
                result.setdefault("_id", doc_id)
            errors = errors or "error" in result
            items.append({action: result})
        return {"took": 1, "errors": errors, "items": items}

    def ids(self, index: str) -> list[str]:
        with self.lock:
            return sorted(self.indices[index].docs)

    def versions(self, index: str) -> dict[str, int]:
        with self.lock:
            return dict(self.indices[index].versions)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client killed mid-request
            super().handle_error(request, client_address)


def _setting(value: Any) -> str:
    """Settings come back as strings, booleans in lower case, as OpenSearch gives them."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _error(status: int, kind: str, reason: str) -> Json:
    return {"error": {"type": kind, "reason": reason}, "status": status}


def _missing(name: str) -> Json:
    return _error(404, "index_not_found_exception", f"no such index [{name}]")


def _handler(server: StandInOpenSearch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real cluster
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms stalls

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, answer, extra = server.handle(self.command, self.path, self.headers, body)
            data = b"" if answer is None or self.command == "HEAD" else orjson.dumps(answer)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet, like a test server should be
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the OpenSearch stand-in on loopback (not OpenSearch).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--throttle-docs", type=float, default=0.0)
    parser.add_argument("--throttle-requests", type=float, default=0.0)
    args = parser.parse_args()
    server = StandInOpenSearch(
        port=args.port, throttle_docs=args.throttle_docs, throttle_requests=args.throttle_requests
    )
    # Its own process holds nothing but documents, which are acyclic: without the cyclic GC
    # rescanning them all as they pile up, a bulk costs a third of the time.
    gc.disable()
    print(server.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.server.serve_forever()


if __name__ == "__main__":
    main()
