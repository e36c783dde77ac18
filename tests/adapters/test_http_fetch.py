"""The HTTP-node fetcher against real local servers: wall-clock bound, address pinning, never raising."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from common.adapters.http_fetch import MAX_BYTES, RequestsFetcher

Handler = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture
def server() -> Iterator[Callable[[Handler], int]]:
    servers: list[ThreadingHTTPServer] = []

    def start(behaviour: Handler) -> int:
        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                behaviour(self)

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return int(httpd.server_address[1])

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def reply(status: int, body: bytes, content_type: str = "application/json") -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


LOCAL = RequestsFetcher(allow_hosts=("127.0.0.1", "localhost", "rebind.test"))


def test_a_normal_answer(server: Callable[[Handler], int]) -> None:
    port = server(reply(200, b'{"ok": true}'))
    assert LOCAL.fetch("GET", f"http://127.0.0.1:{port}/x?a=1", {}, None, 2.0) == (200, '{"ok": true}', None)


def test_a_dripping_api_is_cut_off_by_the_wall_clock(server: Callable[[Handler], int]) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.2)

    port = server(drip)
    began = time.monotonic()
    status, _, error = LOCAL.fetch("GET", f"http://127.0.0.1:{port}/", {}, None, 1.0)
    elapsed = time.monotonic() - began
    assert (status, error) == (0, "timed out after 1.0s")
    assert elapsed < 1.6  # a bound on the failure path, not a benchmark


def test_non_public_addresses_are_refused_without_an_allow_list(server: Callable[[Handler], int]) -> None:
    port = server(reply(200, b"secret"))
    for url in (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/", "http://169.254.169.254/computeMetadata/v1/",
                "http://[::1]:80/", "http://10.0.0.1/"):  # fmt: skip
        status, body, error = RequestsFetcher().fetch("GET", url, {}, None, 1.0)
        assert status == 0 and body == "" and error is not None and ("refused" in error or "resolve" in error), url


def test_the_connection_goes_to_the_address_that_was_checked(
    server: Callable[[Handler], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = server(reply(200, b"pinned"))
    real = socket.getaddrinfo
    calls: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(host))
        if host == "rebind.test":  # first answer: the checked address; any later one: elsewhere
            target = "127.0.0.1" if calls.count("rebind.test") == 1 else "10.255.255.1"
            return real(target, *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    assert LOCAL.fetch("GET", f"http://rebind.test:{port}/", {}, None, 2.0) == (200, "pinned", None)
    assert calls.count("rebind.test") == 1


def test_metadata_and_host_headers_are_dropped(server: Callable[[Handler], int]) -> None:
    seen: dict[str, str] = {}

    def record(h: BaseHTTPRequestHandler) -> None:
        seen.update({k.lower(): v for k, v in h.headers.items()})
        reply(200, b"{}")(h)

    port = server(record)
    headers = {"Metadata-Flavor": "Google", "Host": "evil.test", "X-Custom": "kept"}
    assert LOCAL.fetch("GET", f"http://127.0.0.1:{port}/", headers, None, 2.0)[0] == 200
    assert "metadata-flavor" not in seen and seen["host"] == f"127.0.0.1:{port}" and seen["x-custom"] == "kept"


@pytest.mark.parametrize(("url", "fragment"), [
    ("http://127.0.0.1:99999/", "request failed"),
    ("http://[::1/", "request failed"),
    ("ftp://127.0.0.1/", "not an http(s) URL"),
])  # fmt: skip
def test_bad_urls_fail_without_raising(url: str, fragment: str) -> None:
    status, body, error = LOCAL.fetch("GET", url, {}, None, 1.0)
    assert (status, body) == (0, "") and error is not None and fragment in error


def test_unknown_charset_and_redirects_and_oversize(server: Callable[[Handler], int]) -> None:
    port = server(reply(200, "café".encode(), "text/plain; charset=x-unknown"))
    assert LOCAL.fetch("GET", f"http://127.0.0.1:{port}/", {}, None, 2.0) == (200, "café", None)
    port = server(
        lambda h: (
            h.send_response(302),
            h.send_header("Location", "http://169.254.169.254/"),
            h.send_header("Content-Length", "0"),
            h.end_headers(),
        )
    )  # type: ignore[func-returns-value]
    assert LOCAL.fetch("GET", f"http://127.0.0.1:{port}/", {}, None, 2.0)[0] == 302  # not followed
    port = server(reply(200, b"x" * (MAX_BYTES + 1)))
    assert LOCAL.fetch("GET", f"http://127.0.0.1:{port}/", {}, None, 2.0) == (
        0,
        "",
        f"response larger than {MAX_BYTES} bytes",
    )


def test_post_sends_the_body(server: Callable[[Handler], int]) -> None:
    got: list[bytes] = []

    def echo(h: BaseHTTPRequestHandler) -> None:
        got.append(h.rfile.read(int(h.headers.get("Content-Length", "0"))))
        reply(201, b"{}")(h)

    port = server(echo)
    assert (
        LOCAL.fetch("POST", f"http://127.0.0.1:{port}/", {"Content-Type": "application/json"}, '{"a":1}', 2.0)[0] == 201
    )
    assert got == [b'{"a":1}']
