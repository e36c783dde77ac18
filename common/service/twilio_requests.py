"""Twilio REST requests a flow asks for during a call (a messageNode's SMS, a recordCallNode's
recording), made into HTTP requests the call service performs on its existing HTTP-node path.

    pending_request(actions) -> dict | None        what the call document keeps while the turn waits
    TwilioApi(token_for, api_base).request(pending, account_sid) -> HttpRequest | HttpCompleted
    redirect_return(params, query) -> RedirectEnded   a redirect node's call coming back

Rules owned here:
- The engine asks for a Twilio request with a ``TwilioRequest`` action (``common.core.call``); the
  call document keeps it in ``pending_http`` as ``{"twilio": path, "method", "params", "purpose",
  "timeout_seconds"}``, never with credentials: the call document is not a secret store. An
  httpRequestNode's request is kept as before (``call_records.pending_http``), so documents written
  before this module read alike.
- At the step Twilio requests next, ``request`` builds ``POST {api_base}/2010-04-01/Accounts/
  {AccountSid}/{path}`` with the parameters form-encoded in order (a name may repeat: ``MediaUrl``)
  and HTTP Basic auth: the AccountSid of the account that owns the call and that account's auth
  token (``Services.twilio_token``). It then takes the HTTP node's path: its time budget, its slots,
  its single flight, so a Twilio retry of the step sends one SMS, not two.
- It cannot be made, and the node takes its ``failed`` outcome with the reason in
  ``widgets.<id>.error``, when: the account has no token here, the AccountSid is not one, or the
  path is not a plain relative path of the REST API (it is built from the call's parameters).
- ``api_base``: ``IVR_TWILIO_API_BASE`` (the origin the routing's call control also uses, so one
  stand-in receives both in tests), else ``https://api.twilio.com``.
- A redirect node's call returns with the parameters of the request Twilio makes to the return URL:
  those the other application put in the URL's query first (what it hands back, ``?choice=2``),
  then Twilio's own form parameters; ``seq`` (ours) is not one of them.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from common.core.call import HttpCompleted, HttpRequest, RedirectEnded, TwilioRequest
from common.service import ids
from common.service.call_records import pending_http

DEFAULT_API_BASE = "https://api.twilio.com"
API_VERSION = "2010-04-01"
FORM = "application/x-www-form-urlencoded"
_ACCOUNT_SID = re.compile(ids.ACCOUNT_SID)
_PATH = re.compile(r"[A-Za-z0-9_.-]{1,128}(/[A-Za-z0-9_.-]{1,128}){0,5}")


def pending_request(actions: Iterable[Any]) -> dict[str, Any] | None:
    """The request a turn's actions leave the call waiting on, as stored (no credentials)."""
    for action in actions:  # one pass: this runs on every turn's write
        if isinstance(action, TwilioRequest):
            return {"twilio": action.path, "method": action.method, "params": [list(p) for p in action.params],
                    "purpose": action.purpose, "timeout_seconds": action.timeout_seconds}  # fmt: skip
        if isinstance(action, HttpRequest):
            return pending_http((action,))
    return None


def redirect_return(params: Mapping[str, str], query: Mapping[str, str] | None = None) -> RedirectEnded:
    """The event of a call a redirect node's other TwiML sent back to its ``ReturnUrl``."""
    handed_back = {k: v for k, v in (query or {}).items() if k != "seq"}
    return RedirectEnded("return", {**handed_back, **{k: v for k, v in params.items() if k not in handed_back}})


class TwilioApi:
    def __init__(self, token_for: Callable[[str], str | None] | None, api_base: str | None = None) -> None:
        base = api_base or os.environ.get("IVR_TWILIO_API_BASE") or DEFAULT_API_BASE
        if not base.startswith(("https://", "http://")):
            raise ValueError(f"IVR_TWILIO_API_BASE={base!r}: give an origin such as http://127.0.0.1:8081")
        self.token_for = token_for
        self.api_base = base.rstrip("/")

    def url(self, account_sid: str, path: str) -> str:
        return f"{self.api_base}/{API_VERSION}/Accounts/{account_sid}/{path}"

    def request(self, pending: Mapping[str, Any], account_sid: str) -> HttpRequest | HttpCompleted:
        """The HTTP request to perform for ``pending``; ``HttpCompleted`` (a failure) when there is none
        to make. An httpRequestNode's pending request comes back as it was stored."""
        if "twilio" not in pending:
            return HttpRequest(**pending)
        path, purpose = str(pending.get("twilio") or ""), str(pending.get("purpose") or "request")
        if not _ACCOUNT_SID.fullmatch(account_sid):
            return HttpCompleted(0, "", f"the Twilio {purpose} was not sent: {account_sid[:40]!r} is not an AccountSid")
        if not _PATH.fullmatch(path) or ".." in path:
            return HttpCompleted(0, "", f"the Twilio {purpose} was not sent: {path[:80]!r} is not a REST API path")
        token = self.token_for(account_sid) if self.token_for is not None else None
        if not token:
            return HttpCompleted(0, "", f"the Twilio {purpose} was not sent: no auth token for account "
                                 f"{account_sid} here (link it: PUT /api/platform/tenants/{{id}}/twilio)")  # fmt: skip
        params = [(str(p[0]), str(p[1])) for p in pending.get("params") or [] if len(p) == 2]
        basic = base64.b64encode(f"{account_sid}:{token}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {basic}", "Content-Type": FORM, "Accept": "application/json"}
        return HttpRequest(str(pending.get("method") or "POST"), self.url(account_sid, path), headers,
                           urlencode(params), FORM, float(pending.get("timeout_seconds") or 3.0))  # fmt: skip
