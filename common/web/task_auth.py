"""Who may deliver routing timers to ``/api/departments/tasks/<kind>``: the tasks' service account only.

    TaskAuth(settings, base_url, certs=None).check(headers, path) -> TaskCaller   or ApiError 401/403/503
    CertsCache(inner=None)      a google.auth.transport.Request that keeps Google's certificates while fresh

Rules owned here:
- Production accepts one credential: ``Authorization: Bearer <OIDC token>`` that Google signed (RS256
  with a key of Google's published certificates, issuer accounts.google.com), unexpired, for the
  audience ``IVR_TASKS_AUDIENCE`` (else the task's own URL, which is what Cloud Tasks puts in the token
  when no audience is set), whose ``email`` is ``IVR_TASKS_SERVICE_ACCOUNT`` and ``email_verified``.
- Where ``RoutingSettings.task_secret`` is set (a laptop stack; the Cloud Tasks emulator, which sends
  no token), ``X-Ivr-Task-Secret`` equal to it (compared in constant time) is accepted as well.
  Outside a laptop stack no secret exists unless one is configured, so the header opens nothing.
- Nobody else: no credential, a wrong secret or a token that does not verify is 401; a verified token
  of another account (or an unverified email), an API key, or a kind of credential this deployment
  does not accept is 403. The web layer checks before it reads the body, so a refused request
  changes nothing.
- A token that is not even a JWT is refused before anything is fetched. Google's certificates are
  fetched with a 3 s timeout and kept as long as their Cache-Control allows (1 minute to 1 day);
  when they cannot be fetched the answer is 503, which Cloud Tasks retries.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from common.routing_setup import RoutingSettings
from common.service.admin import ApiError

SECRET_HEADER = "X-Ivr-Task-Secret"
CERTS_TIMEOUT_SECONDS = 3.0
CLOCK_SKEW_SECONDS = 30  # between Google's clock and ours, for iat and exp
MIN_CACHE_SECONDS, MAX_CACHE_SECONDS, DEFAULT_CACHE_SECONDS = 60, 86_400, 3600
_MAX_AGE = re.compile(r"max-age=(\d+)")


@dataclass(frozen=True, slots=True)
class TaskCaller:
    how: Literal["oidc", "secret"]
    who: str  # the service account's email, or "shared secret"


class CertsCache:
    """A ``google.auth.transport.Request`` for ``id_token.verify_oauth2_token``: GET answers (Google's
    certificates) are kept while their Cache-Control says they are fresh, so a task costs no fetch."""

    def __init__(self, inner: Callable[..., Any] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._inner, self._clock = inner, clock
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, Any]] = {}

    def _transport(self) -> Callable[..., Any]:
        if self._inner is None:
            from google.auth.transport import requests as google_requests

            self._inner = google_requests.Request()
        return self._inner

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: float | None = None, **kwargs: Any) -> Any:  # fmt: skip
        now = self._clock()
        with self._lock:
            hit = self._cached.get(url) if method == "GET" else None
        if hit is not None and hit[0] > now:
            return hit[1]
        response = self._transport()(url, method=method, body=body, headers=headers,
                                     timeout=timeout or CERTS_TIMEOUT_SECONDS, **kwargs)  # fmt: skip
        if method == "GET" and response.status == 200:
            with self._lock:
                self._cached[url] = (now + _fresh_for(response.headers), response)
        return response

    def forget(self) -> None:
        with self._lock:
            self._cached.clear()


def _fresh_for(headers: Any) -> float:
    control = ""
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "cache-control":
            control = str(value)
    found = _MAX_AGE.search(control)
    seconds = int(found.group(1)) if found else DEFAULT_CACHE_SECONDS
    return float(min(MAX_CACHE_SECONDS, max(MIN_CACHE_SECONDS, seconds)))


_default_certs = CertsCache()


class TaskAuth:
    def __init__(self, settings: RoutingSettings, base_url: str, certs: Callable[..., Any] | None = None) -> None:
        self.settings, self.base_url = settings, base_url.rstrip("/")
        self.certs = certs or _default_certs

    def audience(self, path: str) -> str:
        return self.settings.tasks_audience or self.base_url + path

    def _accepted(self) -> str:
        ways = []
        if self.settings.tasks_service_account:
            ways.append(f"an OIDC token of {self.settings.tasks_service_account} (Authorization: Bearer)")
        if self.settings.task_secret:
            ways.append(f"the shared secret ({SECRET_HEADER})")
        return " or ".join(ways) or "nothing: no tasks service account (IVR_TASKS_SERVICE_ACCOUNT) is configured"

    def check(self, headers: Mapping[str, str], path: str) -> TaskCaller:
        secret = headers.get(SECRET_HEADER)
        if secret is not None:
            expected = self.settings.task_secret
            if not expected:
                raise ApiError(403, "forbidden", f"this deployment does not accept {SECRET_HEADER}; task endpoints "
                               f"accept {self._accepted()}")  # fmt: skip
            if hmac.compare_digest(secret.encode("utf-8", "replace"), expected.encode("utf-8", "replace")):
                return TaskCaller("secret", "shared secret")
            raise ApiError(401, "unauthenticated", f"{SECRET_HEADER} does not match")
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthenticated", f"task endpoints accept {self._accepted()}")
        account = self.settings.tasks_service_account
        if not account:
            raise ApiError(403, "forbidden", f"this deployment accepts no OIDC tokens; task endpoints accept "
                           f"{self._accepted()}")  # fmt: skip
        if token.count(".") != 2:
            raise ApiError(403, "forbidden", "an API key cannot call the task endpoints; they accept "
                           f"{self._accepted()}")  # fmt: skip
        claims = self._verify(token, self.audience(path))
        email = claims.get("email")
        if email != account:
            raise ApiError(403, "forbidden", f"the token is {email or 'no account'}'s; task endpoints accept only "
                           f"{account}")  # fmt: skip
        if claims.get("email_verified") is not True:
            raise ApiError(403, "forbidden", f"the token's email {email} is not verified")
        return TaskCaller("oidc", account)

    def _verify(self, token: str, audience: str) -> Mapping[str, Any]:
        from google.auth import exceptions as google_exceptions
        from google.oauth2 import id_token

        header = _header(token)
        if header is None or header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise ApiError(401, "unauthenticated", "the bearer token is not a Google-signed OIDC token (RS256 JWT)")
        try:
            claims: Mapping[str, Any] = id_token.verify_oauth2_token(
                token, self.certs, audience=audience, clock_skew_in_seconds=CLOCK_SKEW_SECONDS)  # fmt: skip
        except google_exceptions.TransportError as exc:
            raise ApiError(503, "unavailable", "Google's token certificates could not be fetched; retry") from exc
        except (ValueError, google_exceptions.GoogleAuthError) as exc:
            raise ApiError(401, "unauthenticated", f"the OIDC token does not verify: {str(exc)[:300]}") from exc
        return claims


def _header(token: str) -> dict[str, Any] | None:
    """The JOSE header of a compact JWT, unverified (only to refuse garbage before any fetch)."""
    first = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    except (binascii.Error, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None
