"""HTTP plumbing of the department routing webhooks: POST /webhook/departments/<kind>?t=&d=&e=[&o=&a=&n=].

The URLs come from ``common.core.queue_twiml.QueueUrls`` (the hold loop, the escape menu, the
connect document's Dial and whisper, callbacks, the department's voicemail); the work is
``CallService.departments.hook`` (common/service/call_routing.py).

Rules owned here:
- Exactly the voice webhooks' checks (``voice.refusal``): POST only, bounded bodies, the signature
  over PUBLIC_BASE_URL + the raw request target, with or without our connection-override fragment,
  with the token of the account the request names. Then the tenant in ``t`` must own that account
  (403 otherwise); a query that names no entry is a 400 saying which parameter. Nothing is read or
  written before the signature passes.
- Every signed request gets 200 and valid TwiML within ``voice.BUDGET_SECONDS``, never a 5xx. When
  the work fails or overruns, the caller's leg gets the number's fallback (an apology and the
  fallback destination); an agent's leg gets a short apology and a hang-up (never the fallback
  number dialled from an agent's phone); the callback status callback gets an empty <Response/>.
- Without department routing on the stack, nothing links here: 404.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from common.core import queue_twiml
from common.service.call_routing import CALLER_HOOKS, HookRefused
from common.service.calls import Forbidden
from common.web import voice

log = logging.getLogger("ivr.voice")

AGENT_SORRY = queue_twiml.refused("Sorry, this call could not be connected. Goodbye.")


def handle(request: Any, svc: Any) -> tuple[str, int, dict[str, str]]:
    voice.pool.arrive()  # a lone request's job stays on its CPU (common/web/voice_workers.py)
    try:
        return _handle(request, svc)
    finally:
        voice.pool.leave()


def _handle(request: Any, svc: Any) -> tuple[str, int, dict[str, str]]:
    deadline = time.monotonic() + voice.BUDGET_SECONDS
    path = request.path.rstrip("/")
    kind = path.rsplit("/", 1)[-1]
    if not path.startswith(queue_twiml.PREFIX + "/") or kind not in queue_twiml.KINDS:
        return "Not found", 404, {"Content-Type": "text/plain"}
    if getattr(svc, "routing", None) is None and svc.calls.routing is None:
        return "Department routing is not configured on this stack", 404, {"Content-Type": "text/plain"}
    refused = voice.refusal(request, svc)
    if refused is not None:
        return refused
    params = voice.form(request)
    query = {key: request.args.get(key, "")[: voice.MAX_FIELD_CHARS] for key in ("t", "d", "e", "o", "a", "n")}
    try:  # a submit that fails (no thread to be had) is an unhandled error like any other
        job = voice.pool.submit(svc.calls.departments.hook, kind, query, params)
        return voice.xml(job.result(timeout=max(0.0, deadline - time.monotonic())))
    except Forbidden as exc:
        return voice.forbidden(str(exc))
    except HookRefused as exc:
        log.warning("department webhook %s refused: %s", kind, exc)
        return f"Bad request: {exc}", 400, {"Content-Type": "text/plain; charset=utf-8"}
    except FutureTimeout:
        job.cancel()
        log.error("department webhook %s for call %s overran %.1fs", kind, params.get("CallSid"), voice.BUDGET_SECONDS)
    except Exception:
        log.exception("department webhook %s for call %s failed", kind, params.get("CallSid"))
    if kind == queue_twiml.CALLBACK_STATUS:
        return voice.xml(voice.EMPTY)
    if kind in CALLER_HOOKS:
        return voice.xml(svc.calls.fallback(None, params.get("To")))
    return voice.xml(AGENT_SORRY)
