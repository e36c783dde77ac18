"""A call simulator that behaves like Twilio over HTTP.

It places a call against a running stack (local or deployed): it sends Twilio's standard webhook
parameters, signs every request with X-Twilio-Signature exactly as Twilio does (URL without the
connection-override fragment, POST parameters sorted), follows the TwiML it gets back (Say, Play,
Pause, Gather, Dial, Enqueue, Record, Redirect, Hangup), posts the status callback when the call
ends, and can replay every webhook to check that duplicates are answered byte for byte.

Caller script items are those of ``common.core.simulator`` (digits, speech:TEXT, silence,
dial:STATUS, queue:RESULT, record:URL[:SECS], record:none, record:hangup[:SECS], hangup), played as
Twilio plays them:

- a Gather with input="dtmf" does not listen for speech: a scripted speech item there is silence;
- an empty recording (``record:none``) never requests Record's action: the next verb runs (our
  TwiML puts a Redirect there), and with none the call ends;
- a caller hanging up during a recording (``record:hangup:SECS``) makes Twilio post the action with
  what was recorded and ``Digits=hangup``; its answer is never played and the call ends. With nothing
  recorded (``record:hangup``) no action is posted. Either way only the status callback follows.

Scripted items the call never consumed are returned in ``CallResult.unused_inputs``.

The transport is a callable ``post(url, params, headers) -> (status, body)``: real HTTP by default
(``requests``), or a WSGI test client in tests.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from common.core import simulator as script
from common.core.call import DepartmentEnded, DialEnded, DigitsEntered, NoInput, QueueEnded, RecordingEnded, SpeechHeard

Post = Callable[[str, dict[str, str], dict[str, str]], tuple[int, str]]
MAX_WEBHOOKS = 500
#: a waiting verb that ended without a request: Twilio goes on with the document's next verb
_NEXT_VERB: tuple[str, dict[str, str]] = ("", {})
#: the caller hung up during a recording: Twilio posts the action (if anything was recorded), then the call ends
_LAST_REQUEST = "last"


#: what an <Enqueue> reports for the department outcomes it can give (a stack without routing)
ENQUEUE_RESULTS = {"completed": "bridged", "timeout": "leave", "busy": "queue-full", "failed": "error"}


def _queue_result(item: str, event: DepartmentEnded) -> QueueEnded | None:
    """The QueueResult for a ``queue:`` item: Twilio's own word when the item is one, else the
    outcome's; None for an outcome no Twilio queue gives (closed, noAgents, callbackRequested...)."""
    word = item.split(":")[1].strip().lower()
    if word in script.LEGACY_QUEUE:
        return QueueEnded(word, event.wait_seconds)
    result = ENQUEUE_RESULTS.get(event.outcome)
    return None if result is None else QueueEnded(result, event.wait_seconds)


def http_post(timeout: float = 10.0) -> Post:
    import requests

    session = requests.Session()

    def post(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = session.post(url, data=params, headers=headers, timeout=timeout, allow_redirects=False)
        return response.status_code, response.text

    return post


@dataclass
class Exchange:
    url: str
    params: dict[str, str]
    status: int
    body: str
    replays: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class CallResult:
    call_sid: str
    transcript: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unused_inputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"callSid": self.call_sid, "transcript": self.transcript, "problems": self.problems,
                "unusedInputs": self.unused_inputs,
                "webhooks": [{"url": e.url, "status": e.status, "replays": len(e.replays)}
                             for e in self.exchanges]}  # fmt: skip


class TwilioCallSimulator:
    def __init__(self, base_url: str, auth_token: str, account_sid: str, post: Post | None = None,
                 replays: int = 0, concurrent_replays: int = 0) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.post = post or http_post()
        self.replays = replays
        self.concurrent_replays = concurrent_replays

    def sign(self, url: str, params: dict[str, str]) -> str:
        from twilio.request_validator import RequestValidator

        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def _send(self, result: CallResult, url: str, params: dict[str, str]) -> str | None:
        from requests.utils import requote_uri

        url = url.split("#", 1)[0]  # Twilio strips connection overrides before requesting (and signing)
        url = requote_uri(url)  # and signs the URL as it goes on the wire: quotes, braces, non-ASCII encoded
        headers = {"X-Twilio-Signature": self.sign(url, params),
                   "I-Twilio-Idempotency-Token": secrets.token_hex(8)}  # fmt: skip
        status, body = self.post(url, params, headers)
        exchange = Exchange(url, params, status, body)
        result.exchanges.append(exchange)
        for _ in range(self.replays):
            exchange.replays.append(self.post(url, params, headers))
        if self.concurrent_replays:
            with ThreadPoolExecutor(self.concurrent_replays) as pool:
                jobs = [pool.submit(self.post, url, params, headers) for _ in range(self.concurrent_replays)]
                exchange.replays += [job.result() for job in jobs]
        for replay in exchange.replays:
            if replay != (status, body):
                result.problems.append(f"duplicate of {url} answered differently: {replay[0]} {replay[1][:200]}")
        if status != 200:
            result.problems.append(f"{url} answered HTTP {status}: {body[:200]}")
            return None
        return body

    def call(self, to: str, caller: str = "+15005550006", inputs: Sequence[str] = (),
             call_sid: str | None = None) -> CallResult:  # fmt: skip
        sid = call_sid or "CA" + secrets.token_hex(16)
        result = CallResult(sid)
        base = {"CallSid": sid, "AccountSid": self.account_sid, "From": caller, "To": to, "Caller": caller,
                "Called": to, "Direction": "inbound", "ApiVersion": "2010-04-01"}  # fmt: skip
        items = list(inputs)
        body = self._send(result, f"{self.base_url}/webhook/voice/incoming", {**base, "CallStatus": "ringing"})
        seconds = 0
        for _ in range(MAX_WEBHOOKS):
            if body is None:
                break
            follow = self._follow(result, body, items)
            seconds += 5
            if follow is None:
                break
            url, extra = follow
            last = extra.pop(_LAST_REQUEST, None) is not None
            body = self._send(result, url, {**base, "CallStatus": "completed" if last else "in-progress", **extra})
            if last:
                break  # the caller is gone: Twilio does not play the answer
        result.unused_inputs = list(items)
        self._send(result, f"{self.base_url}/webhook/voice/status",
                   {**base, "CallStatus": "completed", "CallDuration": str(seconds)})  # fmt: skip
        return result

    def _follow(self, result: CallResult, body: str, items: list[str]) -> tuple[str, dict[str, str]] | None:
        """Play one TwiML document; return the next request (url, params) or None when the call ends."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            result.problems.append(f"invalid TwiML: {exc}: {body[:200]}")
            return None
        for verb in root:
            text = (verb.text or "").strip()
            if verb.tag == "Say":
                result.transcript.append(f"IVR: {text}")
            elif verb.tag == "Play":
                result.transcript.append(f"IVR: (plays {text})")
            elif verb.tag == "Gather":
                for prompt in verb:
                    if prompt.tag == "Say":
                        result.transcript.append(f"IVR: {(prompt.text or '').strip()}")
                    elif prompt.tag == "Play":
                        result.transcript.append(f"IVR: (plays {(prompt.text or '').strip()})")
                follow = self._gather(result, verb, items)
                if follow is not _NEXT_VERB:
                    return follow
            elif verb.tag in ("Dial", "Enqueue", "Record"):
                follow = self._network(result, verb, items)
                if follow is not _NEXT_VERB:
                    return follow
            elif verb.tag == "Redirect":
                return text, {}
            elif verb.tag in ("Hangup", "Reject"):
                result.transcript.append("IVR hangs up")
                return None
        result.transcript.append("(end of TwiML: Twilio hangs up)")
        return None

    def _gather(self, result: CallResult, verb: ET.Element, items: list[str]) -> tuple[str, dict[str, str]] | None:
        action = verb.get("action", "")
        if not items:
            result.transcript.append("CALLER hangs up")
            return None
        event = script.parse_item(items.pop(0))
        if event == "hangup":
            result.transcript.append("CALLER hangs up")
            return None
        if isinstance(event, DigitsEntered):
            result.transcript.append(f"CALLER presses {event.digits}")
            return action, {"Digits": event.digits}
        if isinstance(event, SpeechHeard) and "speech" in verb.get("input", "dtmf").split():
            result.transcript.append(f'CALLER says "{event.text}"')
            return action, {"SpeechResult": event.text, "Confidence": "0.9"}
        if isinstance(event, NoInput | SpeechHeard):  # speech where the Gather does not listen for it is silence
            result.transcript.append("CALLER (silence)" if isinstance(event, NoInput) else
                                     f'CALLER says "{event.text}" (not heard: the Gather takes keys only)')  # fmt: skip
            if verb.get("actionOnEmptyResult") == "true":
                return action, {"Digits": ""}
            return _NEXT_VERB  # Twilio requests nothing and plays the next verb
        result.problems.append(f"script item {event} does not fit a Gather")
        return None

    def _network(self, result: CallResult, verb: ET.Element, items: list[str]) -> tuple[str, dict[str, str]] | None:
        action = verb.get("action")
        wanted = {"Dial": DialEnded, "Enqueue": DepartmentEnded, "Record": RecordingEnded}[verb.tag]
        event: Any = None
        if items:
            parsed = script.parse_item(items[0])
            if isinstance(parsed, wanted):
                event = _queue_result(items[0], parsed) if verb.tag == "Enqueue" else parsed
                if event is None:
                    result.problems.append(f"script item {items[0]!r} cannot happen at a Twilio <Enqueue> (this stack "
                                           "has no department routing): use completed, timeout, busy or failed")  # fmt: skip
                    return None
                items.pop(0)
        if verb.tag == "Dial":
            who = ", ".join((n.text or "") for n in verb) or (verb.text or "")
            event = event or DialEnded("completed", 60)
            result.transcript.append(f"dials {who}: {event.status}")
            params = {"DialCallStatus": event.status, "DialCallDuration": str(event.duration),
                      "DialCallSid": "CA" + secrets.token_hex(16)}  # fmt: skip
        elif verb.tag == "Enqueue":
            event = event or QueueEnded("bridged", 30)
            result.transcript.append(f"waits in queue {(verb.text or '').strip()}: {event.result}")
            params = {"QueueResult": event.result, "QueueTime": str(event.queue_time)}
        else:
            event = event or RecordingEnded(script.SIM_RECORDING, 12, recording_sid="RE" + secrets.token_hex(16))
            recorded = bool(event.url) and event.duration > 0
            if event.digits == "hangup":
                done = f"{event.duration}s recorded" if recorded else "nothing recorded"
                result.transcript.append(f"CALLER hangs up during the recording ({done})")
                if not recorded or not action:
                    return None  # nothing to post: the call is over
            else:
                result.transcript.append(f"records: {event.url if recorded else 'nothing'}")
            if not recorded:
                return _NEXT_VERB  # Twilio requests Record's action only when something was recorded
            params = {"RecordingUrl": event.url or "", "RecordingDuration": str(event.duration),
                      "RecordingSid": event.recording_sid or "RE" + secrets.token_hex(16)}  # fmt: skip
            if event.digits == "hangup":
                params |= {"Digits": "hangup", _LAST_REQUEST: "1"}
        if not action:
            if verb.tag in ("Dial", "Enqueue"):
                return _NEXT_VERB  # without an action Twilio continues the document after the verb
            result.problems.append(f"<{verb.tag}> without an action URL")
            return None
        return action, params
