"""HTTP plumbing of the voice webhooks: verify, parse, call the service within budget, answer TwiML.

Rules owned here:
- The signature is checked against the URL Twilio requested, rebuilt as PUBLIC_BASE_URL + the raw
  request target (path and query exactly as sent, from the server's RAW_URI / REQUEST_URI), never
  ``request.url`` (which re-encodes the query) nor X-Forwarded-* headers (which anyone can send).
  The token is that of the account the request names (AccountSid): sub-accounts sign with their own.
  Whether Twilio signs an action URL with the connection-override fragment we put on it (``#ct=...``)
  is not documented, so a signature over the URL with exactly that fragment is accepted too; any
  other fragment is not.
- ``/webhook/voice/fallback/<region>`` is the fallback webhook pinned to a region by the load
  balancer (a number's Fallback URL names another region than its usual one); served the same way.
  A missing or wrong signature is 403 and nothing is read or written; a body over ``MAX_BODY_BYTES``
  is 413, before anything else is read.
- Every signed request gets 200 and valid TwiML within ``BUDGET_SECONDS``: the service runs on a
  worker thread; if it fails or overruns, the caller hears an apology and is sent to the fallback
  destination. Twilio never sees a 5xx from us.
- What a request meant for the call is annotated on its log line (common/observability.py): the
  tenant (the number's, from this instance's cache: no I/O), ``call_event`` started (a deployed flow
  answered) or completed (the status callback, with Twilio's ``call_status``), and ``failure`` when
  the caller heard the fallback: ``fallback_url`` (Twilio used the number's Fallback URL),
  ``unhandled_error``, ``budget_overrun``. The service runs in the request's context (``pool``
  copies it), so its own log lines carry the call sid and trace too.
- The ``call.fallback`` event is written after the fallback answer, on a worker the request does
  not wait for. When the store just failed a step, the first such write in ``STORE_DOWN_SECONDS``
  is tried and the others are only logged: during an outage each would hold a worker until the
  store's deadline, beside the steps that already do.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlparse

from twilio.request_validator import RequestValidator, add_port, compare, remove_port

from common import observability
from common.adapters.ports import StoreUnavailable
from common.bootstrap import Services
from common.core import twiml
from common.core.twiml import CONNECTION_OVERRIDES
from common.service.calls import NOT_IN_SERVICE, Forbidden
from common.web.voice_workers import Job, Workers

log = logging.getLogger("ivr.voice")

BUDGET_SECONDS = 2.5
MAX_BODY_BYTES = 64 * 1024
MAX_FIELD_CHARS = 4096
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'
NOT_IN_SERVICE_DOCUMENT = twiml.say_and_hangup(NOT_IN_SERVICE)
# /webhook/voice/fallback/<region>: the load balancer sends it to that region only (docs/multi-region.md);
# here it is the fallback webhook like any other.
PINNED_FALLBACK = re.compile(r"/webhook/voice/fallback/[a-z]+-[a-z]+[0-9]")
CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})  # Twilio's final ones
STORE_DOWN_SECONDS = 10.0
_clock = time.monotonic
_store_down_tried = -STORE_DOWN_SECONDS  # when a call.fallback write was last tried beside a store failure


# Jobs run in the submitter's context (contextvars), so whatever the service logs on a worker
# carries the request's trace, call sid and tenant.
# IVR_VOICE_COLOCATE=0 turns off keeping a lone request's job on its CPU (voice_workers.py).
pool = Workers(max_workers=64, thread_name_prefix="voice", colocate=os.environ.get("IVR_VOICE_COLOCATE", "1") != "0")


def _native(text: str) -> str:
    """WSGI environ strings are the request's bytes decoded as latin-1 (PEP 3333); Twilio signs the
    URL as text, so raw UTF-8 in the request target (``?name=José``) must be decoded back. (werkzeug's
    development server encodes those bytes once more; common/devserver.py undoes that before us.)"""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def requested_url(environ: dict[str, Any], base_url: str) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if raw.startswith(("http://", "https://")):  # absolute-form request target
            raw = "/" + raw.split("/", 3)[3] if raw.count("/") >= 3 else "/"
        return base_url + _native(raw)
    path = quote(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace"), safe="/;=,~!$&'()*+:@")
    query = _native(environ.get("QUERY_STRING", ""))
    return base_url + path + (f"?{query}" if query else "")


def _query_value(query_string: bytes, name: str) -> str | None:
    """A query parameter percent-decoded with "+" kept as "+": fallback URLs are typed into Twilio's
    console as ``...?dial=+15551234567``, and form decoding would turn that "+" into a space."""
    for part in query_string.decode("latin-1").split("&"):
        key, sep, value = part.partition("=")
        if sep and unquote(key) == name:
            return unquote(value)
    return None


def xml(body: str, status: int = 200) -> tuple[str, int, dict[str, str]]:
    return body, status, {"Content-Type": "text/xml; charset=utf-8"}


def forbidden(reason: str) -> tuple[str, int, dict[str, str]]:
    log.warning("voice webhook refused: %s", reason)
    return "Forbidden: " + reason, 403, {"Content-Type": "text/plain; charset=utf-8"}


def signed_urls(url: str) -> Iterator[str]:
    """Every URL a valid signature may cover, the likeliest first: the URL as requested, then as we
    emitted it (with the connection-override fragment), each also with the default port added or
    removed: the variants twilio's ``RequestValidator.validate`` accepts. Lazily: a genuine request
    usually stops at the first."""
    seen: set[str] = set()
    for candidate in (url, f"{url}#{CONNECTION_OVERRIDES}"):
        yield candidate
        seen.add(candidate)
        parsed = urlparse(candidate)
        for variant in (remove_port(parsed), add_port(parsed)):
            if variant not in seen:
                seen.add(variant)
                yield variant


def verify(request: Any, svc: Services) -> str | None:
    """None when the request is Twilio's; otherwise why not. The signature is computed for the
    candidate URLs one at a time (``signed_urls``) and the first match ends the check: a genuine
    request costs one HMAC where ``RequestValidator.validate`` computes two per URL, and the URLs
    accepted are exactly the ones it accepts."""
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        return "missing X-Twilio-Signature"
    account = request.form.get("AccountSid", "")
    # Services.twilio_token also knows the accounts linked through the platform API; a container
    # without it (older wiring) has only the settings' accounts.
    lookup = getattr(svc, "twilio_token", None)
    token = lookup(account) if callable(lookup) else svc.settings.auth_token_for(account)
    if token is None:
        return f"unknown AccountSid {account[:40]!r}"
    url = requested_url(request.environ, svc.settings.public_base_url)
    validator, params = RequestValidator(token), request.form
    for signed in signed_urls(url):
        if compare(validator.compute_signature(signed, params), signature):
            return None
    return f"signature does not match {url[:300]}"


def refusal(request: Any, svc: Services) -> tuple[str, int, dict[str, str]] | None:
    """Why a webhook request is not served (method, size, signature), before anything is read."""
    if request.method != "POST":
        return "Use POST", 405, {"Allow": "POST", "Content-Type": "text/plain"}
    if (request.content_length or 0) > MAX_BODY_BYTES:
        log.warning("voice webhook refused: body of %s bytes", request.content_length)
        return (f"Payload Too Large: the body has {request.content_length} bytes; a voice webhook takes at most "
                f"{MAX_BODY_BYTES} bytes"), 413, {"Content-Type": "text/plain; charset=utf-8"}  # fmt: skip
    if request.content_length is None and request.headers.get("Transfer-Encoding"):
        # Twilio always sends a Content-Length; a chunked body would have no size bound.
        log.warning("voice webhook refused: no Content-Length")
        return "Content-Length required", 411, {"Content-Type": "text/plain; charset=utf-8"}
    problem = verify(request, svc)
    return forbidden(problem) if problem else None


def form(request: Any) -> dict[str, str]:
    """The first value of each field, cut to ``MAX_FIELD_CHARS`` (``items()``: one pass over the form)."""
    return {key: value[:MAX_FIELD_CHARS] for key, value in request.form.items()}


def handle(request: Any, svc: Services, routes: tuple[str, ...]) -> tuple[str, int, dict[str, str]]:
    pool.arrive()  # a lone request's job stays on its CPU (common/web/voice_workers.py)
    try:
        return _handle(request, svc, routes)
    finally:
        pool.leave()


def _handle(request: Any, svc: Services, routes: tuple[str, ...]) -> tuple[str, int, dict[str, str]]:
    deadline = time.monotonic() + BUDGET_SECONDS
    path = request.path.rstrip("/")
    name = "fallback" if PINNED_FALLBACK.fullmatch(path) else path.rsplit("/", 1)[-1]
    if not path.startswith("/webhook/voice/") or name not in routes:
        return "Not found", 404, {"Content-Type": "text/plain"}
    refused = refusal(request, svc)
    if refused is not None:
        return refused
    params = form(request)
    _annotate_tenant(svc, params.get("To", ""))
    if name == "fallback":
        observability.annotate(failure="fallback_url")
        log.error("fallback URL requested: ErrorCode=%s ErrorUrl=%s", params.get("ErrorCode"),
                  params.get("ErrorUrl"))  # fmt: skip
        answer = xml(svc.calls.fallback(_query_value(request.query_string, "dial"), params.get("To")))
        region = path.rsplit("/", 1)[-1] if PINNED_FALLBACK.fullmatch(path) else None
        _record_fallback(svc, params, "fallback_url", region)
        return answer
    job: Job
    try:  # a submit that fails (no thread to be had) is an unhandled error like any other
        if name == "status":
            job = pool.submit(svc.calls.status, params)
        elif name == "incoming":
            job = pool.submit(svc.calls.incoming, params)
        else:
            seq, query = _step_query(request)
            job = pool.submit(svc.calls.step, params, seq, deadline, query)
        result = job.result(timeout=max(0.0, deadline - time.monotonic()))
    except Forbidden as exc:
        return forbidden(str(exc))
    except TimeoutError:
        job.cancel()  # if it never started, it never will; a running one finishes with its own deadlines
        log.error("%s for call %s overran %.1fs; answering the fallback", name, params.get("CallSid"),
                  BUDGET_SECONDS)  # fmt: skip
        return _failed(name, "budget_overrun", svc, params)
    except Exception as exc:
        log.exception("%s for call %s failed; answering the fallback", name, params.get("CallSid"))
        return _failed(name, "unhandled_error", svc, params, store_down=isinstance(exc, StoreUnavailable))
    if name == "status":
        status = params.get("CallStatus", "")
        observability.annotate(call_event="completed", call_status=status if status in CALL_STATUSES else "other")
        return xml(EMPTY)
    document = str(result)
    if name == "incoming" and document != NOT_IN_SERVICE_DOCUMENT:
        _annotate_tenant(svc, params.get("To", ""), started=True)
    return xml(document)


def _step_query(request: Any) -> tuple[str, Mapping[str, str] | None]:
    """(seq, the query a redirect node's return hands back). Our own callback's query is just
    ``seq=<digits>``: read as is, it hands nothing back (the common case, no query parse); any
    other query as werkzeug parses it."""
    raw = request.query_string
    if raw.startswith(b"seq=") and raw[4:].isdigit():
        return raw[4:].decode("ascii"), None
    args = request.args
    return args.get("seq", ""), args


def _annotate_tenant(svc: Services, number: str, started: bool = False) -> None:
    """The tenant of the called number as this instance last read it (no I/O; unknown on a cold
    instance until the service reads it); ``started``: a deployed flow answered an incoming call."""
    known = svc.calls.numbers.last_known(number) if number else None
    if known is not None:
        observability.annotate(tenant=known.tenant_id)
        if started and known.deployment is not None:
            observability.annotate(call_event="started")


_EVENT_REASONS = {"budget_overrun": "worker_timeout", "unhandled_error": "worker_error"}


def _failed(name: str, why: str, svc: Services, params: dict[str, str],
            store_down: bool = False) -> tuple[str, int, dict[str, str]]:  # fmt: skip
    if name == "status":  # nobody hears a status callback's answer: not a failed flow, but an error
        observability.annotate(error=why)
        return xml(EMPTY)
    observability.annotate(failure=why)
    answer = xml(svc.calls.fallback(None, params.get("To")))
    if store_down and not _first_beside_store_failure():
        log.warning("call.fallback (store_unavailable) of %s not recorded: the store failed within the last "
                    "%.0f s, and writing it would hold a worker until the store's deadline",
                    params.get("CallSid"), STORE_DOWN_SECONDS)  # fmt: skip
        return answer
    _record_fallback(svc, params, "store_unavailable" if store_down else _EVENT_REASONS.get(why, why), None)
    return answer


def _first_beside_store_failure() -> bool:
    """True for the first store-failure fallback in ``STORE_DOWN_SECONDS`` (its event is tried: a blip
    is over by then); two requests racing here may both be first, which costs one more try."""
    global _store_down_tried
    now = _clock()
    if now - _store_down_tried < STORE_DOWN_SECONDS:
        return False
    _store_down_tried = now
    return True


def _record_fallback(svc: Services, params: dict[str, str], reason: str, region: str | None) -> None:
    """The call.fallback event (docs/events.md), written after the answer is built, on a worker the
    request does not wait for: the fallback never waits on the store. With no call record or the
    store down it is only logged (by the outbox), as the failure annotation above already is."""
    events = getattr(svc, "events", None)
    if events is None or not params.get("CallSid"):
        return
    try:
        pool.detach(events.record_fallback, params["CallSid"], reason, region or os.environ.get("IVR_REGION"))
    except Exception:  # a full or stopped pool: the fallback stays in the logs
        log.warning("call.fallback of %s not recorded: no worker", params.get("CallSid"))
