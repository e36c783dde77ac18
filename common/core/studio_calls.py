"""Studio widgets that connect, queue or record the call, and those that cannot act on a call at all.

Rules owned here (the docs' table says the same per widget):
- connect-call-to dials a number (or several), a Twilio Client or a SIP URI; every way the dial
  ends (answered and finished, no answer, busy, failed) follows ``callCompleted``, as in Studio,
  where ``widgets.<name>.DialCallStatus`` tells them apart. A caller id of the caller's own number
  is Twilio's default and is left out; a conference has no equivalent (a finding).
- enqueue-call and send-to-flex queue the caller for a department: the one ``--department`` maps the
  queue name or workflow to, else a department of the account with the queue's name (compared
  case-insensitively), else a department named after the queue (a finding: create it). The task's
  attributes become the transfer's context (shown to the agent). ``completed``, ``timeout``,
  ``callbackRequested`` and ``voicemail`` follow ``callComplete``; ``busy``, ``closed`` and
  ``noAgents`` follow ``failedToEnqueue``; ``failed`` follows ``callFailure``.
- record-voicemail records with the same limits; ``recordingComplete`` is ``recorded``.
- send-message is a messageNode (the host sends the SMS through Twilio's REST API), record-call a
  recordCallNode, add-twiml-redirect a redirectNode (the other TwiML must return the call to its
  ``ReturnUrl`` parameter instead of Studio's webhook: an info finding says so).
- A widget that cannot act on a voice call becomes a node that notes it was skipped and goes on by
  its failure transition (make-outgoing-call-v2 goes on as ``failed``); a widget that would wait
  for a text message ends the call, since no message arrives on a call.
"""

from __future__ import annotations

import re
from typing import Any

from common.core import studio_text
from common.core.studio_build import Build, Transitions, position
from common.core.studio_widgets import _props, json_context, number, pass_through

_CALLERS_OWN = {"{{trigger.call.From}}", "{{ trigger.call.From }}", "{{trigger.call.from}}"}
_DEPARTMENT = re.compile(r"[^A-Za-z0-9_.-]")
_DIAL_OUTCOMES = ("completed", "noAnswer", "busy", "failed")
_QUEUE_OUTCOMES = {"completed": "callComplete", "timeout": "callComplete", "callbackRequested": "callComplete",
                   "voicemail": "callComplete", "busy": "failedToEnqueue", "closed": "failedToEnqueue",
                   "noAgents": "failedToEnqueue", "failed": "callFailure"}  # fmt: skip


def connect_call(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    noun = studio_text.as_text(studio_text.prop(props, "noun")).strip().lower() or "number"
    to = b.fill(name, studio_text.prop(props, "to"), "to")
    target: dict[str, Any] | None
    if noun in ("number", "number-multi", "multi-number"):
        numbers = [n for n in (number(b, name, part.strip(), "to") for part in to.split(",") if part.strip()) if n]
        if len(numbers) > 10:
            b.warn(name, "truncated", f"to lists {len(numbers)} numbers; Twilio rings at most 10", "to")
        target = {"type": "number", "numbers": [b.text(name, n, "to") for n in numbers[:10]]} if numbers else None
    elif noun == "client":
        identity = to.removeprefix("client:").strip()
        ok = re.fullmatch(r"[A-Za-z0-9_.@-]{1,121}", identity) is not None
        target = {"type": "client", "identity": identity} if ok else None
    elif noun == "sip":
        uri = b.fill(name, studio_text.prop(props, "sip_endpoint") or to, "sip_endpoint")
        target = {"type": "sip", "uri": uri} if re.fullmatch(r"sips?:\S+@\S+", uri) and len(uri) <= 512 else None
        for secret in ("sip_username", "sip_password"):
            if studio_text.prop(props, secret):
                b.no_effect(name, secret, "SIP credentials are not sent")
    else:
        return pass_through(b, state, ts, ("callCompleted",), f"connecting to a {noun} has no equivalent here")
    if target is None:
        return pass_through(b, state, ts, ("callCompleted",), f"to {to[:100]!r} is not a {noun} this flow can dial",
                            "invalid_value")  # fmt: skip
    data: dict[str, Any] = {"target": target}
    caller_id = b.fill(name, studio_text.prop(props, "caller_id"), "caller_id")
    if caller_id:
        rewritten = b.text(name, caller_id, "caller_id")
        if rewritten.replace(" ", "") in {c.replace(" ", "") for c in _CALLERS_OWN}:
            pass  # the caller's own number is what Twilio shows anyway
        elif re.fullmatch(r"\+[1-9][0-9]{1,14}", rewritten) or (("{{" in rewritten or "{%" in rewritten)
                                                                and len(rewritten) <= 1024):  # fmt: skip
            data["callerId"] = rewritten
        else:
            b.no_effect(name, "caller_id", f"{caller_id!r} is not an E.164 number; Twilio shows the caller's number")
    timeout = studio_text.as_int(studio_text.prop(props, "timeout"), "timeout", 30, 5, 600, b.finder(name, "timeout"))
    if timeout != 30:
        data["timeout"] = timeout
    if studio_text.as_bool(studio_text.prop(props, "record"), "record", False, b.finder(name, "record")):
        data["record"] = True
    b.node(name, node_id, "transferNode", data, position(state))
    for outcome in _DIAL_OUTCOMES:
        b.link(node_id, outcome, ts.events.get("callCompleted"), name)
    if ts.events.get("hangup"):
        b.warn(name, "hangup_branch", "the flow stops when the caller hangs up, so what follows 'hangup' never runs")
    return f"transferNode ({target['type']})"


def department_for(b: Build, name: str, queue: str) -> str:
    mapped = b.department_map.get(queue) or next(
        (d for q, d in b.department_map.items() if q.lower() == queue.lower()), None)
    if mapped:
        return mapped
    placeholder = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", queue.strip())
    wanted = _DEPARTMENT.sub("_", placeholder.group(1).lower() if placeholder else queue.strip())[:48] or "studio_queue"
    for known in sorted(b.departments or ()):
        if known.lower() == wanted.lower():
            return known
    where = "" if b.departments is None else " (the account has " + (", ".join(sorted(b.departments)) or "none") + ")"
    b.warn(name, "department_unmatched", f"no department is mapped to {queue!r}{where}; the caller is queued for "
           f"department {wanted!r}: create it, or map the queue with --department {queue}=DEPARTMENT")  # fmt: skip
    return wanted


def enqueue(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props, kind = str(state["name"]), b.ids[str(state["name"])], _props(state), str(state["type"])
    queue = b.fill(name, studio_text.prop(props, "queue_name") or studio_text.prop(props, "workflow_sid")
                   or studio_text.prop(props, "workflow"), "queue_name")  # fmt: skip
    target: dict[str, Any] = {"type": "department", "department": department_for(b, name, queue or "studio_queue")}
    priority = studio_text.prop(props, "priority")
    if priority not in (None, ""):
        text = studio_text.as_text(priority).strip()
        if "{{" in text or "{%" in text:
            target["priority"] = b.text(name, text, "priority")[:1024]
        else:
            target["priority"] = studio_text.as_int(priority, "priority", 50, 0, 999, b.finder(name, "priority"))
    wait = studio_text.as_int(studio_text.prop(props, "timeout"), "timeout", None, 30, 86_400,
                              b.finder(name, "timeout"))  # fmt: skip
    if wait is not None:
        target["maxWaitSeconds"] = wait
    context = json_context(b, name, studio_text.prop(props, "attributes") or studio_text.prop(props, "task_attributes"),
                           "attributes")  # fmt: skip
    if context:
        target["context"] = context
    if studio_text.prop(props, "wait_url", b.finder(name, "wait_url")):
        b.no_effect(name, "wait_url", "callers hear the department's hold loop")
    b.node(name, node_id, "transferNode", {"target": target}, position(state))
    for outcome, event in _QUEUE_OUTCOMES.items():
        b.link(node_id, outcome, ts.events.get(event), name)
    flex = " from a Flex workflow" if kind == "send-to-flex" else ""
    return f"transferNode (department {target['department']!r}){flex}"


def record_voicemail(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    find = b.finder
    data: dict[str, Any] = {
        "maxLength": studio_text.as_int(studio_text.prop(props, "max_length"), "max_length", 3600, 1, 3600,
                                        find(name, "max_length")),
        "timeout": studio_text.as_int(studio_text.prop(props, "timeout"), "timeout", 5, 1, 60, find(name, "timeout")),
        "playBeep": studio_text.as_bool(studio_text.prop(props, "play_beep"), "play_beep", True,
                                        find(name, "play_beep")),
        "transcribe": studio_text.as_bool(studio_text.prop(props, "transcribe"), "transcribe", False,
                                          find(name, "transcribe")),
    }  # fmt: skip
    key = studio_text.as_text(studio_text.prop(props, "finish_on_key")).strip()
    if key:
        data["finishOnKey"] = key[0] if key[0] in "0123456789#*" else "#"
    if studio_text.as_text(studio_text.prop(props, "trim")).strip() == "do-not-trim":
        b.no_effect(name, "trim", "Twilio trims the silence at either end")
    for key in ("transcription_callback_url", "recording_status_callback_url", "recording_status_callback"):
        if studio_text.prop(props, key):
            b.no_effect(name, key, "the recording is kept on the call (widgets.<id>.RecordingUrl); nothing is posted")
    b.node(name, node_id, "voicemailNode", data, position(state))
    b.link(node_id, "recorded", ts.events.get("recordingComplete"), name)
    b.link(node_id, "noAudio", ts.events.get("noAudio"), name)
    if ts.events.get("hangup"):
        b.warn(name, "hangup_branch", "a caller who hangs up while recording leaves by recordingComplete (with the "
               "recording) or not at all; what follows 'hangup' never runs")  # fmt: skip
    return "voicemailNode"


# --- what a voice call cannot do -------------------------------------------------------------------


def record_call(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    start = studio_text.as_bool(studio_text.prop(props, "record_call"), "record_call", True,
                                b.finder(name, "record_call"))  # fmt: skip
    data: dict[str, Any] = {"action": "start" if start else "stop"}
    channels = studio_text.as_text(studio_text.prop(props, "recording_channels")).strip().lower()
    if channels in ("mono", "dual"):
        data["channels"] = channels
    elif channels:
        b.warn(name, "invalid_value", f"recording_channels {channels!r} is not mono or dual; mono is used",
               "recording_channels")  # fmt: skip
    trim = studio_text.as_text(studio_text.prop(props, "trim")).strip().lower()
    if trim == "trim-silence":
        data["trim"] = True
    for key in ("recording_status_callback", "recording_status_callback_url", "recording_status_callback_events"):
        if studio_text.prop(props, key):
            b.no_effect(name, key, "recording status is not posted anywhere; the recording is in the account")
    b.node(name, node_id, "recordCallNode", data, position(state))
    b.link(node_id, "success", ts.events.get("success"), name)
    b.link(node_id, "failed", ts.events.get("failed"), name)
    return f"recordCallNode ({data['action']} recording)"


def add_twiml_redirect(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    url = b.text(name, studio_text.prop(props, "url"), "url").strip()[:2048]
    if not url:
        return pass_through(b, state, ts, ("fail",), "it has no url to hand the call to", "no_url")
    method = studio_text.as_text(studio_text.prop(props, "method")).strip().upper() or "POST"
    if method not in ("GET", "POST"):
        b.warn(name, "invalid_value", f"method {method!r} is not GET or POST; POST is used", "method")
        method = "POST"
    timeout = studio_text.as_int(studio_text.prop(props, "timeout"), "timeout", 14_400, 1, 14_400,
                                 b.finder(name, "timeout"))  # fmt: skip
    data: dict[str, Any] = {"url": url, "method": method}
    if timeout != 14_400:
        data["timeout"] = timeout
    b.node(name, node_id, "redirectNode", data, position(state))
    b.link(node_id, "return", ts.events.get("return"), name)
    b.link(node_id, "timeout", ts.events.get("timeout"), name)
    b.link(node_id, "failed", ts.events.get("fail"), name)
    b.finder(name, severity="info")("return_url", "the other TwiML returns the call by redirecting to the URL in "
                                    "its ReturnUrl parameter (Studio's webhook URL with FlowEvent=return does not "
                                    "reach this flow): change it there")  # fmt: skip
    return "redirectNode"


def outgoing_call(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    """Studio runs it only in an execution started from its REST API (POST /v2/Flows/{sid}/Executions),
    where it places that execution's call; such executions are not imported (only incomingCall is),
    so a call reaching it is an incoming call that is already connected."""
    return pass_through(b, state, ts, ("failed",), "make-outgoing-call-v2 places the call of an execution "
                        "started from Studio's REST API; on an incoming call there is no call to place, so "
                        "to, from, machine detection and recording have no effect", "unsupported")  # fmt: skip


def send_message(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    name, node_id, props = str(state["name"]), b.ids[str(state["name"])], _props(state)
    body = b.text(name, studio_text.prop(props, "body"), "body").strip()
    if not body:
        return pass_through(b, state, ts, ("failed",), "it has no body, so no message is sent", "invalid_value")
    if len(body) > 1600:
        b.warn(name, "truncated", "body is longer than 1,600 characters (Twilio's limit); the rest is cut", "body")
    data: dict[str, Any] = {"body": body[:1600]}
    for key, field in (("to", "to"), ("from", "from")):
        value = b.text(name, studio_text.prop(props, key), key).strip()
        if value and value != {"to": "{{trigger.call.From}}", "from": "{{trigger.call.To}}"}[key]:
            data[field] = value[:1024]
    media = studio_text.prop(props, "media_url")
    if media not in (None, ""):
        data["mediaUrl"] = b.text(name, media, "media_url").strip()[:2048]
    for key in ("service", "channel"):
        if studio_text.prop(props, key):
            b.no_effect(name, key, "the SMS is sent from a number of the account (from), not a messaging service")
    b.node(name, node_id, "messageNode", data, position(state))
    b.link(node_id, "sent", ts.events.get("sent"), name)
    b.link(node_id, "failed", ts.events.get("failed"), name)
    return "messageNode (SMS through Twilio's REST API)"


def capture_payments(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    return pass_through(b, state, ts, ("providerError", "payInterrupted", "maxFailedAttempts"), "taking a "
                        "payment (<Pay>) is not built here: no card is asked for", "not_supported")  # fmt: skip


def fork_stream(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    return pass_through(b, state, ts, ("next",), "media streams (<Start><Stream>) are not started here",
                        "not_supported")  # fmt: skip


def waits_for_text(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    return pass_through(b, state, ts, (), f"{state['type']} waits for a text message, which never comes on a voice "
                        "call", "not_voice", hangup=True)  # fmt: skip


def unknown(b: Build, state: dict[str, Any], ts: Transitions) -> str:
    wired = [event for event, target in ts.events.items() if target]
    return pass_through(b, state, ts, tuple(wired[:1]), f"widget type {state['type']!r} is unknown to this "
                        "importer", "unknown_widget_type")  # fmt: skip
