"""Nodes that use Twilio beyond the call's own TwiML: SMS, call recording, and redirects to other TwiML.

The engine stays pure: a message or a recording is a ``TwilioRequest`` action that the host performs
with the account's credentials (as it performs an ``httpRequestNode``'s request), and a redirect is
a ``Redirect`` verb. Each node waits, and its event ends the wait:

    node             action          waits        event            outcomes
    --------------   -------------   ----------   --------------   --------------------------------
    messageNode      TwilioRequest   "http"       HttpCompleted    sent (2xx), failed (anything else)
    recordCallNode   TwilioRequest   "http"       HttpCompleted    success (2xx), failed
    redirectNode     Redirect        "redirect"   RedirectEnded    return, timeout, failed

Rules owned here:
- A message whose rendered ``to`` or ``from`` is empty, or whose body renders to nothing, fails at
  once, without a request (``message.failed`` event, ``widgets.<id>.error`` says why).
- A redirect whose URL does not render to http(s) fails at once. The URL gets the host's next step
  URL as its ``ReturnUrl`` query parameter; the other TwiML returns the call by redirecting there.
  The parameters of that request (Twilio's and any the other application adds to the URL) are the
  node's results, ``widgets.<id>.<name>``, capped at 50 names of 256 characters.
- A host that cannot read a redirect's return (one written before redirect nodes) answers the step
  with ``HttpCompleted``: it is taken as ``return`` with no parameters, so the call goes on instead
  of being handed to the other TwiML again.
- Results: a message's ``widgets.<id>.sid``, ``.status`` (Twilio's, e.g. ``queued``),
  ``.status_code`` and ``.error``; a recording's ``.sid``, ``.status_code`` and ``.error``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from common.core.call import HttpCompleted, InboundEvent, Redirect, RedirectEnded, TwilioRequest, Waiting
from common.core.flow import MessageNode, RecordCallNode, RedirectNode

MAX_RESULT_PARAMS = 50
MAX_RESULT_VALUE = 256


class Wait(Exception):
    """Internal signal: the current node waits for ``kind``; the turn ends here."""

    def __init__(self, kind: Waiting) -> None:
        self.kind: Waiting = kind


def _answer(event: HttpCompleted) -> tuple[bool, dict[str, Any]]:
    try:
        parsed = json.loads(event.body) if event.body else None
    except ValueError:
        parsed = None
    found = parsed if isinstance(parsed, dict) else {}
    ok = event.error is None and 200 <= event.status_code < 300
    error = event.error or ("" if ok else str(found.get("message") or f"HTTP {event.status_code}"))[:500]
    return ok, {"status_code": event.status_code, "sid": str(found.get("sid") or "")[:64], "error": error or None}


# --- messageNode -----------------------------------------------------------------------------------


def enter_message(turn: Any, node: MessageNode) -> str:
    d = node.data
    to, sender = turn.render(d.to).strip(), turn.render(d.from_).strip()
    body = turn.render(d.body).strip()[:1600]
    missing = [name for name, value in (("to", to), ("from", sender), ("body", body)) if not value]
    if missing:
        turn.widgets[node.id] = {"status_code": 0, "sid": "", "status": "", "error": f"{missing[0]} rendered empty"}
        turn.emit("message.failed", node.id, error=f"{missing[0]}_empty")
        return "failed"
    params: list[tuple[str, str]] = [("To", to[:64]), ("From", sender[:64]), ("Body", body)]
    if d.media_url is not None:
        media = turn.render(d.media_url).strip()
        if media.startswith(("https://", "http://")):
            params.append(("MediaUrl", media))
    turn.actions.append(TwilioRequest("POST", "Messages.json", tuple(params), "message"))
    turn.emit("message.requested", node.id, to=to[:64])
    raise Wait("http")


def resume_message(turn: Any, node: MessageNode, event: InboundEvent) -> str:
    assert isinstance(event, HttpCompleted)
    ok, result = _answer(event)
    try:
        status = json.loads(event.body).get("status", "") if ok and event.body else ""
    except (ValueError, AttributeError):
        status = ""
    turn.widgets[node.id] = {**result, "status": str(status)[:32]}
    turn.emit("message.sent" if ok else "message.failed", node.id, status_code=event.status_code)
    return "sent" if ok else "failed"


# --- recordCallNode --------------------------------------------------------------------------------


def enter_record_call(turn: Any, node: RecordCallNode) -> str:
    d, sid = node.data, turn.trigger.get("CallSid", "")
    if d.action == "start":
        params = (("RecordingChannels", d.channels), ("Trim", "trim-silence" if d.trim else "do-not-trim"))
        request = TwilioRequest("POST", f"Calls/{sid}/Recordings.json", params, "recording")
    else:  # Twilio.CURRENT names the call's recording in progress
        request = TwilioRequest("POST", f"Calls/{sid}/Recordings/Twilio.CURRENT.json", (("Status", "stopped"),),
                                "recording")  # fmt: skip
    turn.actions.append(request)
    turn.emit("recording.requested", node.id, action=d.action)
    raise Wait("http")


def resume_record_call(turn: Any, node: RecordCallNode, event: InboundEvent) -> str:
    assert isinstance(event, HttpCompleted)
    ok, result = _answer(event)
    turn.widgets[node.id] = result
    turn.emit("recording.started" if ok and node.data.action == "start" else
              "recording.stopped" if ok else "recording.failed", node.id, status_code=event.status_code)  # fmt: skip
    return "success" if ok else "failed"


# --- redirectNode ----------------------------------------------------------------------------------


def enter_redirect(turn: Any, node: RedirectNode) -> str:
    url = turn.render(node.data.url).strip()
    if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
        turn.widgets[node.id] = {"error": f"rendered URL {url[:200]!r} is not http(s)"}
        turn.emit("redirect.failed", node.id, error="bad_url")
        return "failed"
    turn.actions.append(Redirect(url[:2048], node.data.method))
    turn.emit("redirect.started", node.id)
    raise Wait("redirect")


def resume_redirect(turn: Any, node: RedirectNode, event: InboundEvent) -> str:
    if isinstance(event, RedirectEnded):
        outcome = event.outcome if event.outcome in RedirectNode.OUTCOMES else "failed"
        params = dict(list(event.params.items())[:MAX_RESULT_PARAMS])
    else:  # a host that cannot read the return: the call came back all the same
        outcome, params = "return", {}
    turn.widgets[node.id] = {str(k)[:64]: str(v)[:MAX_RESULT_VALUE] for k, v in params.items()}
    if outcome == "return":
        turn.caller_acted()  # the other TwiML had the call: a loop through it is not a loop of ours
    turn.emit("redirect.ended", node.id, outcome=outcome)
    return outcome


def return_url(target: str, step_url: str) -> str:
    """``target`` with the URL the other TwiML must redirect back to as its ``ReturnUrl`` parameter."""
    base, hash_, fragment = target.partition("#")
    joined = base + ("&" if "?" in base else "?") + urlencode({"ReturnUrl": step_url})
    return joined + (hash_ + fragment if hash_ else "")


ENTER: dict[type, Any] = {MessageNode: enter_message, RecordCallNode: enter_record_call, RedirectNode: enter_redirect}
RESUME: dict[type, Any] = {MessageNode: resume_message, RecordCallNode: resume_record_call,
                           RedirectNode: resume_redirect}  # fmt: skip
