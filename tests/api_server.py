"""A loopback stand-in for the model APIs the enrich clients call (not those services).

No OpenAI-compatible server or Bedrock can run here, so this small HTTP server answers the
subset the clients use: ``POST /v1/chat/completions`` and ``POST /v1/embeddings`` (OpenAI's
wire format), ``POST /model/<id>/converse`` and ``POST /model/<id>/invoke`` (Bedrock
runtime's). It logs every request with its arrival time, and answers the first
``throttle_first`` and every ``throttle_every``-th one with 429 and ``Retry-After``
(Bedrock's: a ``ThrottlingException``). It can also fail the next requests the ways a real
service or proxy does (``faults``, taken first to last): ``"cut"`` promises a longer body
than it sends and closes the connection, ``"slow"`` answers only after ``slow`` seconds,
``"null"`` gives an embedding of ``null``.
Its answers are deterministic functions of the input, so a test can check them.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple


class Request(NamedTuple):
    at: float  # when it arrived (time.monotonic)
    path: str
    authorization: str | None
    status: int


def summary_of(text: str) -> str:
    return "summary: " + " ".join(text.split()[:3])


def vector_of(text: str) -> list[float]:
    return [float(len(text)), float(text.count("a")), 1.0]


class ApiServer:
    def __init__(
        self,
        *,
        throttle_every: int = 0,
        throttle_first: int = 0,
        retry_after: float = 0.2,
        api_key: str | None = None,
        echo_key: bool = False,
        faults: list[str] | None = None,
        slow: float = 1.0,
    ) -> None:
        self.throttle_every = throttle_every
        self.throttle_first = throttle_first
        self.retry_after = retry_after
        self.api_key = api_key
        self.echo_key = echo_key  # a wrong key's 401 repeats it in full, as some proxies do
        self.faults = list(faults or [])
        self.slow = slow
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._server = _Quiet(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answered(self, status: int = 200) -> list[Request]:
        return [r for r in self.log if r.status == status]

    def most_in_one_second(self) -> int:
        """The largest number of requests that arrived in any one-second window."""
        times = sorted(r.at for r in self.log)
        return max((sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)), default=0)

    def _record(self, path: str, authorization: str | None) -> tuple[int, str | None]:
        """The status to answer, and the fault to answer it with (None: a proper answer)."""
        with self._lock:
            count = len(self.log) + 1
            fault = None
            if self.api_key is not None and authorization != f"Bearer {self.api_key}":
                status = 401
            elif count <= self.throttle_first or (self.throttle_every and count % self.throttle_every == 0):
                status = 429
            else:
                status = 200
                fault = self.faults.pop(0) if self.faults else None
            self.log.append(Request(time.monotonic(), path, authorization, status))
            return status, fault

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                bedrock = self.path.startswith("/model/")
                status, fault = server._record(self.path, self.headers.get("Authorization"))
                if fault == "slow":
                    time.sleep(server.slow)  # past the client's timeout: it has given up
                    return
                if fault == "cut":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"object": "')  # 12 bytes of 1000, then the connection closes
                    self.close_connection = True
                    return
                if status == 401:
                    given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                    shown = given if server.echo_key else "sk-w***"
                    self._send(401, {"error": {"message": f"Incorrect API key provided: {shown}"}})
                elif status == 429 and bedrock:
                    headers = {"x-amzn-ErrorType": "ThrottlingException"}
                    self._send(429, {"message": "Too many requests, please wait"}, headers)
                elif status == 429:
                    headers = {"Retry-After": f"{server.retry_after:g}"}
                    self._send(429, {"error": {"message": "Rate limit reached"}}, headers)
                elif self.path == "/v1/chat/completions":
                    text = body["messages"][-1]["content"]
                    message = {"role": "assistant", "content": summary_of(text)}
                    self._send(200, {"choices": [{"index": 0, "message": message}]})
                elif self.path == "/v1/embeddings":
                    data = [
                        {
                            "object": "embedding",
                            "index": i,
                            "embedding": None if fault == "null" else vector_of(text),
                        }
                        for i, text in enumerate(body["input"])
                    ]
                    self._send(200, {"object": "list", "data": data[::-1]})  # any order: index says
                elif bedrock and self.path.endswith("/converse"):
                    text = body["messages"][-1]["content"][0]["text"]
                    output = {"message": {"role": "assistant", "content": [{"text": summary_of(text)}]}}
                    usage = {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
                    answer = {
                        "output": output,
                        "stopReason": "end_turn",
                        "usage": usage,
                        "metrics": {"latencyMs": 1},
                    }
                    self._send(200, answer)
                elif bedrock and self.path.endswith("/invoke"):
                    self._send(200, {"embedding": vector_of(body["inputText"]), "inputTextTokenCount": 1})
                else:
                    self._send(404, {"error": {"message": f"no such endpoint {self.path}"}})

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a slow answer: nothing to report
