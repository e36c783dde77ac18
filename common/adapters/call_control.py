"""CallControl: act on live calls through Twilio's REST API.

    CallControl         the port: point a live call at new TwiML; start an outbound call
    TwilioCallControl   twilio.rest.Client over a deadline-bounded HTTP client; the REST base URL is
                        configurable (IVR_TWILIO_API_BASE) so a local stand-in for api.twilio.com
                        receives the requests
    NullCallControl     a laptop without Twilio: nothing is redirected or dialled; a waiting caller's
                        hold loop finds its assignment on its next iteration, which is the safety net
                        in production too

Rules:

- Never raises. ``redirect`` answers True only when Twilio accepted the update; ``dial_out`` the new
  CallSid or None. The reason for a False/None is logged.
- One budget per call, ``budget`` seconds (2 s) in total, each HTTP attempt bounded by the smaller
  of ``attempt_timeout`` (1 s) and what is left: a dispatcher runs inside a webhook or a task.
- What is retried differs because the two requests differ. A redirect is idempotent (setting the
  same URL twice only makes Twilio fetch it twice, and the TwiML it fetches is idempotent), so it is
  retried on 429/20429 (Twilio's rate limit: safe to retry), any 5xx, connection errors and timeouts.
  Creating a call is not: a 500, a dropped connection or a timeout may hide a call that rings
  anyway, and a second attempt would ring the agent twice. ``dial_out`` is retried only when Twilio
  certainly did not create it: 429/20429, 503, or no connection made at all.
- A 404 (the call is gone: the caller hung up) and 21220 (the call is not in progress) are normal
  outcomes of a race with the caller, logged at INFO; other refusals at ERROR.

The base URL override: twilio-python builds every URL from its domain's ``base_url``
(``client.api.base_url``, "https://api.twilio.com"), so replacing it sends the same requests,
paths and basic auth to the stand-in. TWILIO_EDGE/TWILIO_REGION, which the client reads from the
environment, would rewrite the stand-in's host, so they are ignored when the base is overridden;
so are proxy variables (the stand-in is local).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

log = logging.getLogger("ivr.twilio")

BUDGET = 2.0  # seconds for a whole redirect or dial-out, retries included
ATTEMPT_TIMEOUT = 1.0  # seconds per HTTP attempt (connect and each read)
MIN_ATTEMPT = 0.1  # an attempt that would have less than this left is not started
BACKOFF = (0.1, 0.2, 0.4)  # seconds before the 2nd, 3rd, 4th... attempt (the last repeats)
GONE_CODES = {20404, 21220}  # not found; call not in progress: the caller left first


class CallControl(Protocol):
    def redirect(self, account_sid: str, call_sid: str, url: str) -> bool:
        """Point a live call at new TwiML (calls(sid).update(url=url, method="POST")). False if the call is
        gone or Twilio refused; 429/5xx retried a bounded number of times within ~2 s."""

    def dial_out(self, account_sid: str, to: str, from_: str, url: str, status_callback: str) -> str | None:
        """Start an outbound call (callbacks: the agent first); returns its CallSid or None."""


class NullCallControl:
    """No Twilio to ask (a laptop stack): every request is declined, and says so at DEBUG."""

    def redirect(self, account_sid: str, call_sid: str, url: str) -> bool:
        log.debug("no call control: %s is not redirected (its hold loop will pick up %s)", call_sid, url)
        return False

    def dial_out(self, account_sid: str, to: str, from_: str, url: str, status_callback: str) -> str | None:
        log.debug("no call control: %s is not dialled", to)
        return None


def _bounded_http_client(attempt_timeout: float, local: bool) -> Any:
    """A TwilioHttpClient whose requests time out at the thread's deadline, if that comes first."""
    from twilio.http.http_client import TwilioHttpClient

    class DeadlineHttpClient(TwilioHttpClient):
        def __init__(self) -> None:
            super().__init__(timeout=attempt_timeout)
            self._deadline = threading.local()
            if local and self.session is not None:
                self.session.trust_env = False  # a local stand-in: never through a proxy

        @contextlib.contextmanager
        def deadline(self, at: float) -> Iterator[None]:
            self._deadline.at = at
            try:
                yield
            finally:
                self._deadline.at = None

        def request(self, method: str, url: str, params: Any = None, data: Any = None, headers: Any = None,
                    auth: Any = None, timeout: float | None = None, allow_redirects: bool = False) -> Any:
            at = getattr(self._deadline, "at", None)
            bound = self.timeout if at is None else min(self.timeout, max(0.01, at - time.monotonic()))
            return super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                                   timeout=bound, allow_redirects=allow_redirects)  # fmt: skip

    return DeadlineHttpClient()


class _Refused(Exception):
    """Twilio answered and said no: not worth another attempt."""


class TwilioCallControl:
    def __init__(self, token_for: Callable[[str], str | None], api_base: str | None = None, *,
                 budget: float = BUDGET, attempt_timeout: float = ATTEMPT_TIMEOUT,
                 http_client: Any = None) -> None:  # fmt: skip
        if api_base is not None and not api_base.startswith(("https://", "http://")):
            raise ValueError(f"IVR_TWILIO_API_BASE={api_base!r}: give an origin such as http://127.0.0.1:8081")
        self.token_for = token_for
        self.api_base = api_base.rstrip("/") if api_base else None
        self.budget = budget
        self.attempt_timeout = attempt_timeout
        self._http_client = http_client
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    # -- plumbing --------------------------------------------------------------------------------

    @property
    def http_client(self) -> Any:
        with self._lock:
            if self._http_client is None:
                self._http_client = _bounded_http_client(self.attempt_timeout, local=self.api_base is not None)
            return self._http_client

    def _client(self, account_sid: str) -> Any | None:
        token = self.token_for(account_sid)
        if token is None:
            log.error("no auth token for account %s: cannot act on its calls", account_sid)
            return None
        http_client = self.http_client
        with self._lock:  # one client per account: its HTTP session (and TLS connections) are reused
            client = self._clients.get((account_sid, token))
            if client is None:
                from twilio.rest import Client

                client = Client(account_sid, token, http_client=http_client)
                if self.api_base is not None:
                    client.api.base_url = self.api_base
                    client.edge = client.region = None  # they would rewrite the stand-in's host
                self._clients[(account_sid, token)] = client
            return client

    def _attempts(self, what: str, send: Callable[[], Any], retry_if: Callable[[BaseException], bool]) -> Any:
        """``send()`` until it succeeds, raises _Refused, or the budget is spent; the last error re-raised."""
        deadline = time.monotonic() + self.budget
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._deadline(deadline):
                    return send()
            except Exception as exc:
                if isinstance(exc, _Refused) or not retry_if(exc):
                    raise
                pause = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
                if time.monotonic() + pause + MIN_ATTEMPT > deadline:
                    log.warning("%s: giving up after %d attempts within %.1f s", what, attempt, self.budget)
                    raise
                log.info("%s: attempt %d failed (%s), retrying", what, attempt, _describe(exc))
                time.sleep(pause)

    def _deadline(self, at: float) -> Any:
        http = self.http_client
        return http.deadline(at) if hasattr(http, "deadline") else contextlib.nullcontext()

    # -- the port --------------------------------------------------------------------------------

    def redirect(self, account_sid: str, call_sid: str, url: str) -> bool:
        what = f"redirect {call_sid}"
        try:
            client = self._client(account_sid)
            if client is None:
                return False
            call = client.api.v2010.accounts(account_sid).calls(call_sid)
            self._attempts(what, lambda: _refusing(lambda: call.update(url=url, method="POST")),
                           _retry_redirect)  # fmt: skip
        except _Refused as exc:
            level = logging.INFO if _is_gone(exc.__cause__) else logging.ERROR
            log.log(level, "%s refused by Twilio: %s", what, _describe(exc.__cause__))
            return False
        except Exception as exc:
            log.error("%s failed: %s", what, _describe(exc))
            return False
        return True

    def dial_out(self, account_sid: str, to: str, from_: str, url: str, status_callback: str) -> str | None:
        what = f"dial {to} from {from_}"
        try:
            client = self._client(account_sid)
            if client is None:
                return None
            calls = client.api.v2010.accounts(account_sid).calls
            created = self._attempts(what, lambda: _refusing(lambda: calls.create(
                to=to, from_=from_, url=url, method="POST", status_callback=status_callback,
                status_callback_method="POST")), _retry_dial)  # fmt: skip
        except _Refused as exc:
            log.error("%s refused by Twilio: %s", what, _describe(exc.__cause__))
            return None
        except Exception as exc:
            log.error("%s failed (not retried unless surely not created): %s", what, _describe(exc))
            return None
        sid = getattr(created, "sid", None)
        return sid if isinstance(sid, str) and sid else None


# -- what is worth another attempt -----------------------------------------------------------------


def _status(exc: BaseException | None) -> tuple[int | None, int | None]:
    from twilio.base.exceptions import TwilioRestException

    if isinstance(exc, TwilioRestException):
        return exc.status, exc.code
    return None, None


def _rate_limited(status: int | None, code: int | None) -> bool:
    return status == 429 or code == 20429


def _is_gone(exc: BaseException | None) -> bool:
    status, code = _status(exc)
    return status == 404 or code in GONE_CODES


def _refusing(send: Callable[[], Any]) -> Any:
    """Run ``send``; a 4xx other than a rate limit becomes _Refused (final), the rest passes through."""
    try:
        return send()
    except Exception as exc:
        status, code = _status(exc)
        if status is not None and 400 <= status < 500 and not _rate_limited(status, code):
            raise _Refused() from exc
        raise


def _retry_redirect(exc: BaseException) -> bool:
    import requests

    status, code = _status(exc)
    if status is not None:
        return _rate_limited(status, code) or status >= 500
    return isinstance(exc, requests.RequestException | OSError)


def _retry_dial(exc: BaseException) -> bool:
    import requests

    status, code = _status(exc)
    if status is not None:
        return _rate_limited(status, code) or status == 503
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        return _never_connected(exc)
    return False


def _never_connected(exc: BaseException) -> bool:
    """True when the error chain shows the TCP connection was never made (so nothing was sent)."""
    from urllib3.exceptions import NewConnectionError

    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(item, BaseException):
            stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return False


def _describe(exc: BaseException | None) -> str:
    status, code = _status(exc)
    if status is not None:
        message = getattr(exc, "msg", "")
        return f"HTTP {status}" + (f" (Twilio error {code})" if code else "") + (f": {message}" if message else "")
    return f"{type(exc).__name__}: {exc}"
