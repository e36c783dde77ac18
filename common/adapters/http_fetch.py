"""Performs httpRequestNode requests for live calls: bounded in time and size, and never inward.

Rules owned here:
- ``timeout`` is a wall-clock deadline on the whole exchange: resolving the name, connecting, the TLS
  handshake, sending, and reading the status line, the headers and every byte of the body. Per-read
  socket timeouts cannot give that (an API that drips one byte a second never trips a 2 s read
  timeout), so a watchdog shuts the connection's socket down when the deadline passes, whatever the
  request is blocked on, and every read also carries what is left of the deadline as its timeout.
  Name resolution has no timeout of its own: it runs on its own thread and is waited for only until
  the deadline (a resolver left hanging finishes on its own thread, holding no socket and no slot).
- Flows are written by tenants, so the URL is untrusted. The host is resolved once; every address it
  resolves to must be public (loopback, private, link-local - where the metadata server lives - and
  other non-global addresses are refused unless the host is explicitly allowed, as a laptop stack
  allows 127.0.0.1); the connection then goes to that validated address, with the original name for
  the Host header, SNI and TLS verification, so a second resolution cannot steer it elsewhere.
  Headers that address cloud metadata services or override the host are dropped. Redirects are not
  followed.
- Responses are read up to 64 kB; anything larger is a failure, not a truncated success.
- Never raises: every failure becomes (0, "", reason) and the node takes its ``failed`` outcome.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

MAX_BYTES = 64 * 1024
CONNECT_SECONDS = 2.0  # of the deadline, at most, for the TCP connect itself
DROPPED_HEADERS = frozenset({"host", "metadata-flavor", "metadata", "x-google-metadata-request",
                             "content-length", "transfer-encoding", "connection"})  # fmt: skip


class _Watchdog:
    """Shuts a socket down at the deadline, waking any thread blocked on it (connect, TLS, recv).

    It holds a duplicate of the socket's descriptor: shutting that down ends the one connection both
    descriptors share, even after TLS has wrapped (and taken over) the original socket object."""

    def __init__(self, deadline: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._done = False
        self.fired = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock.dup()
            if self.fired:
                self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):  # not connected yet, or already closed by the peer
                self._sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _resolve(host: str, port: int, timeout: float) -> tuple[list[str] | None, str | None]:
    """Addresses of ``host`` within ``timeout`` seconds: (addresses, None) or (None, why not)."""
    found: dict[str, Any] = {}

    def lookup() -> None:
        try:
            found["infos"] = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            found["error"] = exc

    resolver = threading.Thread(target=lookup, name="http-node-dns", daemon=True)
    resolver.start()
    resolver.join(max(0.0, timeout))
    if resolver.is_alive():
        return None, f"resolving {host} took longer than {timeout:.1f}s"
    if "error" in found:
        exc = found["error"]
        return None, f"cannot resolve {host}: {exc.strerror or exc}"
    return [str(info[4][0]) for info in found.get("infos", [])], None


class RequestsFetcher:
    def __init__(self, allow_hosts: Iterable[str] = (), user_agent: str = "ivr-flows/0.1",
                 ca_certs: str | None = None) -> None:  # fmt: skip
        self.allow_hosts = frozenset(allow_hosts)
        self.user_agent = user_agent
        self.ca_certs = ca_certs  # None: certifi's bundle

    def _address(self, host: str, port: int, timeout: float) -> tuple[str | None, str | None]:
        """(address to connect to, None) or (None, why not)."""
        try:
            candidates: list[str] | None = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            candidates, problem = _resolve(host, port, timeout)
            if candidates is None:
                return None, problem
        if not candidates:
            return None, f"{host} has no address"
        if host not in self.allow_hosts:
            for candidate in candidates:
                if not ipaddress.ip_address(candidate.split("%", 1)[0]).is_global:
                    return None, f"{host} resolves to non-public address {candidate}; refused"
        return candidates[0], None

    def fetch(self, method: str, url: str, headers: dict[str, str], body: str | None,
              timeout: float) -> tuple[int, str, str | None]:  # fmt: skip
        try:
            return self._fetch(method, url, headers, body, timeout)
        except Exception as exc:  # the contract: a failure is an outcome, never an exception
            return 0, "", f"request failed: {type(exc).__name__}"

    def _fetch(self, method: str, url: str, headers: dict[str, str], body: str | None,
               timeout: float) -> tuple[int, str, str | None]:  # fmt: skip
        end = time.monotonic() + timeout
        timed_out = (0, "", f"timed out after {timeout:.1f}s")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return 0, "", f"not an http(s) URL: {url[:200]}"
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address, refused = self._address(host, port, timeout)
        if address is None:
            return 0, "", refused
        if end - time.monotonic() <= 0:
            return timed_out
        watchdog = _Watchdog(end)
        try:
            result = self._exchange(watchdog, end, parts, host, port, address, method, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            if watchdog.fired or isinstance(exc, TimeoutError) or time.monotonic() >= end:
                return timed_out
            return 0, "", f"request failed: {type(exc).__name__}"
        finally:
            watchdog.stop()
        if watchdog.fired or time.monotonic() > end:
            return timed_out
        return result

    def _exchange(self, watchdog: _Watchdog, end: float, parts: Any, host: str, port: int, address: str,
                  method: str, headers: dict[str, str], body: str | None) -> tuple[int, str, str | None]:  # fmt: skip
        def left() -> float:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            return remaining

        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        response: http.client.HTTPResponse | None = None
        try:
            watchdog.watch(sock)
            sock.settimeout(min(left(), CONNECT_SECONDS))
            sock.connect((address, port))
            sock.settimeout(left())
            if parts.scheme == "https":
                context = ssl.create_default_context(cafile=self.ca_certs or _certifi())
                sock = context.wrap_socket(sock, server_hostname=host)  # verifies the name, not the address
            connection = http.client.HTTPConnection(host, port)
            connection.sock = sock  # already connected to the checked address
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            sent = {k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS}
            host_header = host if parts.port is None else f"{host}:{parts.port}"
            connection.request(method, target, body=body.encode() if body is not None else None,
                               headers={"User-Agent": self.user_agent, **sent, "Host": host_header,
                                        "Connection": "close"})  # fmt: skip
            sock.settimeout(left())
            response = connection.getresponse()  # the status line and headers, bounded by the watchdog
            chunks, size = [], 0
            while True:
                sock.settimeout(left())
                chunk = response.read1(8192)  # returns as soon as any bytes arrive
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BYTES:
                    return 0, "", f"response larger than {MAX_BYTES} bytes"
                chunks.append(chunk)
        finally:
            if response is not None:
                response.close()
            sock.close()
        declared = re.search(r"charset=\"?([A-Za-z0-9_.:-]+)", response.getheader("Content-Type") or "")
        charset = declared.group(1) if declared else None
        try:
            text = b"".join(chunks).decode(charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset name
            text = b"".join(chunks).decode("utf-8", errors="replace")
        return response.status, text, None


def _certifi() -> str:
    import certifi

    return str(certifi.where())
