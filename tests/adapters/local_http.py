"""A real HTTP server on 127.0.0.1 that records every request and answers from a script.

Used where an adapter talks HTTP to someone else: the Cloud Tasks emulator dispatching our timers,
the twilio client calling a local stand-in for Twilio's REST API::

    with Recorder() as server:
        server.answer(429, {"code": 20429, "message": "Too Many Requests"})   # the next request
        ...                                                                  # then 200 "{}" by default
        (request,) = server.wait_for(1)

``answer(..., delay=s)`` holds the response back (a hung peer, for timeout tests); closing the
server releases every held response at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query
    query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_at: float  # time.time()

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Recorder:
    def __init__(self, default_status: int = 200, default_body: Any = None) -> None:
        self.requests: list[Recorded] = []
        self._script: deque[_Answer] = deque()
        self._default = _Answer(default_status, json.dumps({} if default_body is None else default_body).encode())
        self._lock = threading.Condition()
        self._closing = threading.Event()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                answer = recorder._record(Recorded(self.command, parts.path, parts.query,
                                                   {k.lower(): v for k, v in self.headers.items()}, body,
                                                   time.time()))  # fmt: skip
                if answer.delay:
                    recorder._closing.wait(answer.delay)
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="recorder", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
               delay: float = 0.0) -> None:  # fmt: skip
        """Queue the answer to the next unanswered request."""
        raw = body if isinstance(body, bytes) else json.dumps({} if body is None else body).encode()
        with self._lock:
            self._script.append(_Answer(status, raw, dict(headers or {}), delay))

    def _record(self, request: Recorded) -> _Answer:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            return self._script.popleft() if self._script else self._default

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        """The first ``count`` requests, waiting up to ``timeout`` seconds for them to arrive."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()
