"""Performs httpRequestNode requests for live calls: bounded in time and size, and never inward.

Rules owned here:
- ``timeout`` is a wall-clock bound on the whole request (resolve, connect, send, read every byte),
  not a per-read socket timeout: an API that drips one byte at a time still fails on time.
- Flows are written by tenants, so the URL is untrusted. The host is resolved once; every address it
  resolves to must be public (loopback, private, link-local - where the metadata server lives - and
  other non-global addresses are refused unless the host is explicitly allowed, as a laptop stack
  allows 127.0.0.1); the connection then goes to that validated address, with the original name for
  the Host header and TLS verification, so a second resolution cannot steer it elsewhere. Headers
  that address cloud metadata services or override the host are dropped. Redirects are not followed.
- Responses are read up to 64 kB; anything larger is a failure, not a truncated success.
- Never raises: every failure becomes (0, "", reason) and the node takes its ``failed`` outcome.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

MAX_BYTES = 64 * 1024
DROPPED_HEADERS = frozenset({"host", "metadata-flavor", "metadata", "x-google-metadata-request",
                             "content-length", "transfer-encoding", "connection"})  # fmt: skip


class RequestsFetcher:
    def __init__(self, allow_hosts: Iterable[str] = (), user_agent: str = "ivr-flows/0.1") -> None:
        self.allow_hosts = frozenset(allow_hosts)
        self.user_agent = user_agent

    def _address(self, host: str, port: int, timeout: float) -> tuple[str | None, str | None]:
        """(address to connect to, None) or (None, why not)."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
            candidates = [str(literal)]
        except ValueError:
            # getaddrinfo has no timeout of its own; the caller's wall clock still bounds the request.
            try:
                infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
            except OSError as exc:
                return None, f"cannot resolve {host}: {exc.strerror or exc}"
            candidates = [str(info[4][0]) for info in infos]
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
        import certifi
        import urllib3

        started = time.monotonic()
        end = started + timeout
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return 0, "", f"not an http(s) URL: {url[:200]}"
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address, refused = self._address(host, port, timeout)
        if address is None:
            return 0, "", refused
        remaining = end - time.monotonic()
        if remaining <= 0:
            return 0, "", f"timed out after {timeout:.1f}s"
        pool_timeout = urllib3.Timeout(connect=min(remaining, 2.0), read=remaining)
        pool: Any
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(address, port, timeout=pool_timeout, retries=False,
                                               server_hostname=host, assert_hostname=host,
                                               cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())  # fmt: skip
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=pool_timeout, retries=False)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent = {k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS}
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        try:
            response = pool.urlopen(method, target, body=body.encode() if body is not None else None,
                                    headers={"User-Agent": self.user_agent, **sent, "Host": host_header},
                                    redirect=False, preload_content=False)  # fmt: skip
            chunks, size = [], 0
            try:
                while chunk := response.read1(8192):  # returns as soon as any bytes arrive
                    size += len(chunk)
                    if size > MAX_BYTES:
                        return 0, "", f"response larger than {MAX_BYTES} bytes"
                    if time.monotonic() > end:
                        return 0, "", f"timed out after {timeout:.1f}s"
                    chunks.append(chunk)
            finally:
                response.release_conn()
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            return 0, "", f"timed out after {timeout:.1f}s"
        except urllib3.exceptions.HTTPError as exc:
            return 0, "", f"request failed: {type(exc).__name__}"
        finally:
            pool.close()
        if time.monotonic() > end:
            return 0, "", f"timed out after {timeout:.1f}s"
        declared = re.search(r"charset=\"?([A-Za-z0-9_.:-]+)", response.headers.get("Content-Type", ""))
        charset = declared.group(1) if declared else None
        try:
            text = b"".join(chunks).decode(charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset name
            text = b"".join(chunks).decode("utf-8", errors="replace")
        return response.status, text, None
