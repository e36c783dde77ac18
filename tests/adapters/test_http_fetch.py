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


# -- slow APIs: the deadline bounds the whole exchange -------------------------------------------------

DRIP_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"p" * 20
                 + b"\r\nContent-Length: 2\r\n\r\n{}")  # fmt: skip


class HeaderDripper:
    """A real socket server on 127.0.0.1 that sends its status line and headers one byte at a time,
    each byte well inside a per-read socket timeout: only a deadline on the whole exchange stops it."""

    def __init__(self, interval: float = 0.4) -> None:
        self.interval = interval
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.stopping = threading.Event()
        self.hung_up = threading.Event()  # the client closed the connection while we were dripping
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def drip_seconds(self) -> float:
        return len(DRIP_RESPONSE) * self.interval

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            for byte in DRIP_RESPONSE:
                if self.stopping.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    self.hung_up.set()
                    return

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()


@pytest.fixture
def dripper() -> Iterator[HeaderDripper]:
    server = HeaderDripper()
    yield server
    server.close()


def test_an_api_dripping_its_status_line_and_headers_is_cut_off_at_the_deadline(dripper: HeaderDripper) -> None:
    timeout = 1.5
    began = time.monotonic()
    status, body, error = LOCAL.fetch("GET", f"http://127.0.0.1:{dripper.port}/v1/accounts/1", {}, None, timeout)
    elapsed = time.monotonic() - began
    print(f"\nheaders dripped 1 byte every {dripper.interval}s (the whole answer: {dripper.drip_seconds:.0f}s); "
          f"timeout {timeout}s; fetch returned after {elapsed:.2f}s")  # fmt: skip
    assert (status, body, error) == (0, "", f"timed out after {timeout:.1f}s")
    assert elapsed < timeout + 1.0  # well under the drip duration: cut off, not waited out
    assert dripper.hung_up.wait(3 * dripper.interval + 1.0), "the connection was left open"


def test_a_resolver_that_hangs_is_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    release = threading.Event()

    def hanging(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow-dns.test":
            release.wait(10)
        return real("127.0.0.1" if host == "slow-dns.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    began = time.monotonic()
    status, body, error = LOCAL.fetch("GET", "http://slow-dns.test:9/", {}, None, 1.0)
    elapsed = time.monotonic() - began
    release.set()
    print(f"\nresolver hung for 10s; timeout 1.0s; fetch returned after {elapsed:.2f}s")
    assert (status, body) == (0, "") and error is not None and "resolv" in error, error
    assert elapsed < 2.0


# -- TLS: the certificate is checked against the URL's name, on the pinned address ---------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cert path, key path)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ivr-flows test API")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))  # fmt: skip
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_port(tls_files: tuple[str, str]) -> Iterator[int]:
    import ssl

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply(200, b'{"tls": true}')(self)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def test_https_to_a_trusted_certificate_answers(tls_port: int, tls_files: tuple[str, str]) -> None:
    fetcher = RequestsFetcher(allow_hosts=("127.0.0.1",), ca_certs=tls_files[0])
    assert fetcher.fetch("GET", f"https://127.0.0.1:{tls_port}/", {}, None, 2.0) == (200, '{"tls": true}', None)


def test_https_to_an_untrusted_certificate_fails(tls_port: int) -> None:
    status, body, error = LOCAL.fetch("GET", f"https://127.0.0.1:{tls_port}/", {}, None, 2.0)
    assert (status, body, error) == (0, "", "request failed: SSLCertVerificationError")
