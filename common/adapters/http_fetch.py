"""Performs httpRequestNode requests for live calls: bounded in time and size, and never inward.

Rules owned here:
- A hard timeout (connect + read) no longer than the node's, itself at most 5 s, so a slow API costs
  the caller a pause, never Twilio's 15 s budget.
- Flows are written by tenants, so the URL is untrusted: requests to loopback, private, link-local
  (the metadata server lives there) and other non-public addresses are refused unless the host is
  explicitly allowed (local development allows 127.0.0.1). Redirects are not followed.
- Responses are read up to 64 kB; anything larger is a failure, not a truncated success.
- Never raises: every failure becomes (0, "", reason) and the node takes its ``failed`` outcome.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

MAX_BYTES = 64 * 1024


class RequestsFetcher:
    def __init__(self, allow_hosts: Iterable[str] = (), user_agent: str = "ivr-flows/0.1") -> None:
        self.allow_hosts = frozenset(allow_hosts)
        self.user_agent = user_agent
        self._session = None

    def _public(self, host: str, port: int) -> str | None:
        if host in self.allow_hosts:
            return None
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            return f"cannot resolve {host}: {exc.strerror or exc}"
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global:
                return f"{host} resolves to non-public address {address}; refused"
        return None

    def fetch(self, method: str, url: str, headers: dict[str, str], body: str | None,
              timeout: float) -> tuple[int, str, str | None]:  # fmt: skip
        import requests

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return 0, "", f"not an http(s) URL: {url[:200]}"
        refused = self._public(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        if refused:
            return 0, "", refused
        if self._session is None:
            self._session = requests.Session()  # type: ignore[assignment]
        try:
            response = self._session.request(  # type: ignore[attr-defined]
                method, url, headers={"User-Agent": self.user_agent, **headers},
                data=body.encode() if body is not None else None, timeout=(min(timeout, 2.0), timeout),
                allow_redirects=False, stream=True,
            )  # fmt: skip
            with response:
                chunks, size = [], 0
                for chunk in response.iter_content(8192):
                    size += len(chunk)
                    if size > MAX_BYTES:
                        return 0, "", f"response larger than {MAX_BYTES} bytes"
                    chunks.append(chunk)
                text = b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")
                return response.status_code, text, None
        except requests.Timeout:
            return 0, "", f"timed out after {timeout:.1f}s"
        except requests.RequestException as exc:
            return 0, "", f"request failed: {type(exc).__name__}"
