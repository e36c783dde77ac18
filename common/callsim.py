"""A call simulator that behaves like Twilio over HTTP.

It places a call against a running stack (local or deployed): it sends Twilio's standard webhook
parameters, signs every request with X-Twilio-Signature exactly as Twilio does (URL without the
connection-override fragment, POST parameters sorted), follows the TwiML it gets back (Say, Play,
Pause, Gather, Dial, Enqueue, Record, Redirect, Hangup), posts the status callback when the call
ends, and can replay every webhook to check that duplicates are answered alike.

Caller script items are those of ``common.core.simulator`` (digits, speech:TEXT, silence,
dial:STATUS, queue:RESULT, record:URL[:SECS], record:none, record:hangup[:SECS], hangup, and the hold
loop's press:, hold:, agent:, customer:), played as
Twilio plays them:

- a Gather with input="dtmf" does not listen for speech: a scripted speech item there is silence;
- an empty recording (``record:none``) never requests Record's action: the next verb runs (our
  TwiML puts a Redirect there), and with none the call ends;
- a caller hanging up during a recording (``record:hangup:SECS``) makes Twilio post the action with
  what was recorded and ``Digits=hangup``; its answer is never played and the call ends. With nothing
  recorded (``record:hangup``) no action is posted. Either way only the status callback follows;
- ``queue:RESULT`` ends a Twilio <Enqueue> (a stack without department routing) with that
  QueueResult (bridged, leave, queue-full, error...; completed, timeout, busy and failed are read as
  bridged, leave, queue-full and error).

Department routing (a stack with it answers a transfer with its own hold loop, never <Enqueue>). The
simulator follows the loop as Twilio would: the music plays, the loop redirects to itself, and the
loop's own check is what connects the caller when an agent is free (a laptop has no REST redirect).
Items for the loop and the agent's leg, taken when the call gets there (other items wait for the flow):

    press:DIGITS        keys pressed in the hold loop's escape menu (1 callback, 2 voicemail) or at the
                        callback prompts (1 confirms the number, 2 keys in another: then press:+1555...);
                        in an ordinary Gather it is the same as the digits
    hold:N              the caller hears N music clips of the hold loop (counting the one playing),
                        then hangs up instead of following its Redirect (abandons)
    agent:answer[:SECS] the next agent offered the caller answers, hears the whisper, presses 1 and
                        talks SECS seconds (default 60); then the conversation ends (Dial completed)
    agent:no-answer     the agent's phone rings until the Dial's timeout (Dial no-answer)
    agent:busy          the agent's line is busy (Dial busy)
    agent:decline       the agent answers, hears the whisper and presses 2: their leg hangs up and the
                        caller's Dial ends unbridged (no-answer)

An offer with no agent item left is answered (``agent:answer``). The loop is bounded: after
``max_hold`` iterations in a row the caller gives up and hangs up (a problem is reported, since no
script asked for it). Time: every Play takes ``play_seconds``, a Pause its length, an unanswered
Gather its timeout, a ring ``ring_seconds`` (a no-answer the Dial's timeout), a conversation its
SECS. ``call`` hands each wait to ``advance(seconds)`` when given (a test moves the stack's clock
there) and reports the call's length in the status callback. ``start`` returns a ``CallSession``
advanced one request at a time (``step(now)``), so a test can interleave many callers on one clock.

``outbound(...)`` plays an outbound call the stack asked Twilio to make (a callback: the agent is
called first): its answer URL is requested, the whisper is played with the same agent items, and a
Dial to the customer ends ``completed`` after ``customer:answer[:SECS]`` (default) or with the status
of ``customer:no-answer`` / ``customer:busy``; its status callback is posted at the end.

Other TwiML (a redirectNode hands the call to it, with our next step as its ``ReturnUrl``): a
``redirect:return[:a=1&b=2]`` item plays what that TwiML does without requesting it: it returns the
call to ``ReturnUrl`` with those parameters added to the URL's query, as an application handing values
back would; ``redirect:timeout`` / ``redirect:failed``: it ends the call there. Without such an item the
simulator requests the other TwiML (through ``elsewhere``, real HTTP by default) and plays its answer
like any document, so an application that redirects to the ``ReturnUrl`` it was given brings the
call back.

Scripted items the call never consumed are returned in ``CallResult.unused_inputs``.

The transport is a callable ``post(url, params, headers) -> (status, body)``: real HTTP by default
(``requests``), or a WSGI test client in tests; ``elsewhere`` is the one for URLs outside ``base_url``.
"""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from common.core import simulator as script
from common.core.call import (
    DepartmentEnded,
    DialEnded,
    DigitsEntered,
    NoInput,
    QueueEnded,
    RecordingEnded,
    RedirectEnded,
    SpeechHeard,
)  # fmt: skip

Post = Callable[[str, dict[str, str], dict[str, str]], tuple[int, str]]
MAX_WEBHOOKS = 500
HOLD_ITEMS = ("press:", "hold:", "agent:", "customer:")
ROUTING_PATH = "/webhook/departments/"
#: what an <Enqueue> reports for the department outcomes it can give (a stack without routing)
ENQUEUE_RESULTS = {"completed": "bridged", "timeout": "leave", "busy": "queue-full", "failed": "error"}
AGENT_ITEM = re.compile(r"agent:(answer(?::[0-9]+)?|no-answer|busy|decline)")
CUSTOMER_ITEM = re.compile(r"customer:(answer(?::[0-9]+)?|no-answer|busy)")
#: a generator that yields the seconds it waits before its next request, and returns the request
Play = Generator[float, None, "tuple[str, dict[str, str]] | None"]


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
    seconds: float = 0.0  # how long the call lasted, as simulated

    def to_dict(self) -> dict[str, Any]:
        return {"callSid": self.call_sid, "transcript": self.transcript, "problems": self.problems,
                "unusedInputs": self.unused_inputs, "seconds": round(self.seconds, 1),
                "webhooks": [{"url": e.url, "status": e.status, "replays": len(e.replays)}
                             for e in self.exchanges]}  # fmt: skip


class TwilioCallSimulator:
    def __init__(self, base_url: str, auth_token: str, account_sid: str, post: Post | None = None,
                 replays: int = 0, concurrent_replays: int = 0, *, play_seconds: float = 10.0,
                 ring_seconds: float = 3.0, max_hold: int = 100, elsewhere: Post | None = None) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.elsewhere = elsewhere  # other TwiML's transport (None: real HTTP when first needed)
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.post = post or http_post()
        self.replays = replays
        self.concurrent_replays = concurrent_replays
        self.play_seconds, self.ring_seconds, self.max_hold = play_seconds, ring_seconds, max_hold

    def sign(self, url: str, params: dict[str, str]) -> str:
        from twilio.request_validator import RequestValidator

        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def send(self, result: CallResult, url: str, params: dict[str, str]) -> str | None:
        from requests.utils import requote_uri

        url = url.split("#", 1)[0]  # Twilio strips connection overrides before requesting (and signing)
        url = requote_uri(url)  # and signs the URL as it goes on the wire: quotes, braces, non-ASCII encoded
        headers = {"X-Twilio-Signature": self.sign(url, params),
                   "I-Twilio-Idempotency-Token": secrets.token_hex(8)}  # fmt: skip
        post = self.post if url.startswith(self.base_url + "/") else self._elsewhere()
        status, body = post(url, params, headers)
        exchange = Exchange(url, params, status, body)
        result.exchanges.append(exchange)
        for _ in range(self.replays):
            exchange.replays.append(post(url, params, headers))
        if self.concurrent_replays:
            with ThreadPoolExecutor(self.concurrent_replays) as pool:
                jobs = [pool.submit(post, url, params, headers) for _ in range(self.concurrent_replays)]
                exchange.replays += [job.result() for job in jobs]
        for replay in exchange.replays:
            if not _alike(url, replay, (status, body)):
                result.problems.append(f"duplicate of {url} answered differently: {replay[0]} {replay[1][:200]}")
        if status != 200:
            result.problems.append(f"{url} answered HTTP {status}: {body[:200]}")
            return None
        return body

    def _elsewhere(self) -> Post:
        if self.elsewhere is None:
            self.elsewhere = http_post()
        return self.elsewhere

    def start(self, to: str, caller: str = "+15005550006", inputs: Sequence[str] = (),
              call_sid: str | None = None, at: float = 0.0) -> CallSession:  # fmt: skip
        """A call that has not rung yet: ``step(now)`` makes its requests as they fall due."""
        return CallSession(self, to, caller, list(inputs), call_sid or "CA" + secrets.token_hex(16), at)

    def call(self, to: str, caller: str = "+15005550006", inputs: Sequence[str] = (),
             call_sid: str | None = None, advance: Callable[[float], None] | None = None) -> CallResult:  # fmt: skip
        return self.start(to, caller, inputs, call_sid).run(advance)

    def outbound(self, url: str, status_callback: str, to: str, from_: str, inputs: Sequence[str] = (),
                 call_sid: str | None = None, at: float = 0.0) -> CallSession:  # fmt: skip
        """An outbound call the stack started (a callback's agent leg), answered by ``to``."""
        return CallSession(self, to, from_, list(inputs), call_sid or "CA" + secrets.token_hex(16), at,
                           outbound=(url, status_callback))  # fmt: skip


class CallSession:
    """One simulated call. ``due`` is when (in simulated seconds) its next request happens; ``step``
    makes the requests due by ``now`` and returns whether the call is still going."""

    def __init__(self, sim: TwilioCallSimulator, to: str, caller: str, items: list[str], sid: str, at: float,
                 outbound: tuple[str, str] | None = None) -> None:  # fmt: skip
        self.sim, self.items, self.started, self.due = sim, items, at, at
        self.result = CallResult(sid)
        self.base = {"CallSid": sid, "AccountSid": sim.account_sid, "From": caller, "To": to, "Caller": caller,
                     "Called": to, "Direction": "outbound-api" if outbound else "inbound",
                     "ApiVersion": "2010-04-01"}  # fmt: skip
        self.outbound = outbound
        self.holding = 0  # hold-loop iterations in a row
        self.leave_after: int | None = None  # hold:N
        self.live = True
        self._run = self._call()

    @property
    def transcript(self) -> list[str]:
        return self.result.transcript

    def step(self, now: float | None = None) -> bool:
        if not self.live or (now is not None and now < self.due):
            return self.live
        try:
            waited = next(self._run)
        except StopIteration:
            self.live = False
            self.result.unused_inputs = list(self.items)
            return False
        self.due = (now if now is not None else self.due) + waited
        return True

    def run(self, advance: Callable[[float], None] | None = None) -> CallResult:
        """Play the call to its end on its own clock, handing every wait to ``advance``."""
        now = self.due
        while self.step(now):
            if advance is not None and self.due > now:
                advance(self.due - now)
            now = self.due
        return self.result

    # -- the call ---------------------------------------------------------------------------------

    def _call(self) -> Generator[float, None, None]:
        sim, result = self.sim, self.result
        elapsed = 0.0
        if self.outbound is not None:
            body = sim.send(result, self.outbound[0], {**self.base, "CallStatus": "in-progress"})
        else:
            body = sim.send(result, f"{sim.base_url}/webhook/voice/incoming", {**self.base, "CallStatus": "ringing"})
        for _ in range(MAX_WEBHOOKS):
            if body is None:
                break
            play = self._follow(body)
            try:
                while True:
                    waited = next(play)
                    elapsed += waited
                    yield waited
            except StopIteration as done:
                follow = done.value
            if follow is None:
                break
            url, extra = follow
            last = extra.pop("last", None) is not None
            body = sim.send(result, url, {**self.base, "CallStatus": "completed" if last else "in-progress", **extra})
            if last:
                break  # the caller is gone: Twilio does not play the answer
        result.seconds = elapsed
        status = self.outbound[1] if self.outbound else f"{sim.base_url}/webhook/voice/status"
        sim.send(result, status, {**self.base, "CallStatus": "completed", "CallDuration": str(int(elapsed))})

    def _follow(self, body: str) -> Play:
        """Play one TwiML document; return the next request (url, params) or None when the call ends."""
        result = self.result
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
                yield self.sim.play_seconds
            elif verb.tag == "Pause":
                yield float(verb.get("length", "1"))
            elif verb.tag == "Gather":
                follow = yield from self._gather(verb)
                if follow is not None:
                    return None if follow == ("", {}) else follow
            elif verb.tag == "Dial" and any(ROUTING_PATH in (noun.get("url") or "") for noun in verb):
                return (yield from self._agent(verb))
            elif verb.tag == "Dial" and verb.get("action", "").find(ROUTING_PATH) >= 0:
                return (yield from self._customer(verb))
            elif verb.tag in ("Dial", "Enqueue", "Record"):
                follow = self._network(verb)
                if follow is not None:
                    return None if follow == ("", {}) else follow
            elif verb.tag == "Redirect":
                if f"{ROUTING_PATH}hold" in text and not self._hold_again():
                    return None
                if not text.startswith(self.sim.base_url + "/"):
                    return self._other_twiml(text)
                return text, {}
            elif verb.tag in ("Hangup", "Reject"):
                result.transcript.append("IVR hangs up")
                return None
        result.transcript.append("(end of TwiML: Twilio hangs up)")
        return None

    def _other_twiml(self, url: str) -> tuple[str, dict[str, str]] | None:
        """A Redirect out of the stack: a ``redirect:`` item says what the other TwiML does, else it is
        requested."""
        back = (parse_qs(urlsplit(url).query).get("ReturnUrl") or [""])[0]
        if not (self.items and self.items[0].startswith("redirect:")):
            self.result.transcript.append(f"redirected to {url.split('?', 1)[0]}")
            return url, {}
        item = self.items.pop(0)
        event = script.parse_item(item)
        if not isinstance(event, RedirectEnded) or event.outcome != "return" or not back:
            self.result.transcript.append(f"the other TwiML ends the call ({item})")
            return None
        given = f" with {event.params}" if event.params else ""
        self.result.transcript.append(f"the other TwiML returns the call{given}")
        base, hash_, fragment = back.partition("#")
        query = urlencode(event.params)
        return base + (("&" if "?" in base else "?") + query if query else "") + hash_ + fragment, {}

    def _hold_again(self) -> bool:
        """One more iteration of the hold loop, unless the caller gives up now."""
        self.holding += 1
        if self.items and self.items[0].startswith("hold:") and self.items[0][5:].isdigit():
            self.leave_after = self.holding + int(self.items.pop(0)[5:]) - 1  # this clip was the first
        if self.leave_after is not None and self.holding >= self.leave_after:
            self.result.transcript.append("CALLER hangs up while holding")
            return False
        if self.holding > self.sim.max_hold:
            self.result.transcript.append(f"CALLER gives up after {self.sim.max_hold} hold iterations")
            self.result.problems.append(f"nobody answered within {self.sim.max_hold} iterations of the hold loop")
            return False
        return True

    # -- Gather -----------------------------------------------------------------------------------

    def _gather(self, verb: ET.Element) -> Play:
        """None: nothing posted, the next verb plays; ("", {}): the call ends; else the request."""
        result = self.result
        for prompt in verb:
            if prompt.tag == "Say":
                result.transcript.append(f"IVR: {(prompt.text or '').strip()}")
            elif prompt.tag == "Play":
                result.transcript.append(f"IVR: (plays {(prompt.text or '').strip()})")
        action = verb.get("action", "")
        if f"{ROUTING_PATH}accept" in action:  # an agent's own leg (a callback): the whisper asks them
            item = self._agent_item()
            yield 2.0
            digits = "2" if item == "agent:decline" else "1"
            result.transcript.append(f"AGENT presses {digits}")
            return action, {"Digits": digits}
        if ROUTING_PATH in action:  # the hold loop's menu, the callback prompts: only press: items
            if self.items and self.items[0].startswith("press:"):
                digits = self.items.pop(0)[6:]
                result.transcript.append(f"CALLER presses {digits}")
                return action, {"Digits": digits.rstrip("#")}
            if any(p.tag == "Play" for p in verb):
                yield self.sim.play_seconds
            else:
                yield float(verb.get("timeout", "5"))
            return None  # no input: Twilio plays the next verb
        if not self.items:
            result.transcript.append("CALLER hangs up")
            return "", {}
        item = self.items.pop(0)
        if item.startswith("press:"):
            item = item[6:]
        event = script.parse_item(item)
        if event == "hangup":
            result.transcript.append("CALLER hangs up")
            return "", {}
        if isinstance(event, DigitsEntered):
            result.transcript.append(f"CALLER presses {event.digits}")
            return action, {"Digits": event.digits}
        if isinstance(event, SpeechHeard) and "speech" in verb.get("input", "dtmf").split():
            result.transcript.append(f'CALLER says "{event.text}"')
            return action, {"SpeechResult": event.text, "Confidence": "0.9"}
        if isinstance(event, NoInput | SpeechHeard):  # speech where the Gather does not listen for it is silence
            result.transcript.append("CALLER (silence)" if isinstance(event, NoInput) else
                                     f'CALLER says "{event.text}" (not heard: the Gather takes keys only)')  # fmt: skip
            yield float(verb.get("timeout", "5"))
            if verb.get("actionOnEmptyResult") == "true":
                return action, {"Digits": ""}
            return None  # Twilio requests nothing and plays the next verb
        result.problems.append(f"script item {event} does not fit a Gather")
        return "", {}

    # -- the agent's leg ----------------------------------------------------------------------------

    def _agent_item(self, default: str = "agent:answer") -> str:
        if self.items and AGENT_ITEM.fullmatch(self.items[0]):
            return self.items.pop(0)
        return default

    def _agent(self, verb: ET.Element) -> Play:
        """The connect document: Dial the offered agent(s), each with a whisper URL."""
        self.holding = 0
        action = verb.get("action", "")
        nouns = [noun for noun in verb if noun.get("url")]
        who = ", ".join((noun.text or "").strip() for noun in nouns)
        item = self._agent_item()
        dial_sid = "CA" + secrets.token_hex(16)
        self.result.transcript.append(f"rings agent {who}: {item.split(':', 1)[1]}")
        if item == "agent:busy":
            yield 1.0
            return action, {"DialCallStatus": "busy", "DialCallDuration": "0", "DialCallSid": dial_sid}
        if item == "agent:no-answer":
            yield float(verb.get("timeout", "30"))
            return action, {"DialCallStatus": "no-answer", "DialCallDuration": "0", "DialCallSid": dial_sid}
        yield self.sim.ring_seconds
        agent = {**self.base, "CallSid": dial_sid, "ParentCallSid": self.base["CallSid"],
                 "From": self.base["From"], "To": (nouns[0].text or "").strip(), "Direction": "outbound-dial",
                 "CallStatus": "in-progress"}  # fmt: skip
        bridged = yield from self._whisper(nouns[0].get("url", ""), agent, accept=item != "agent:decline")
        if not bridged:
            yield 1.0
            return action, {"DialCallStatus": "no-answer", "DialCallDuration": "0", "DialCallSid": dial_sid}
        talk = int(item.split(":")[2]) if item.count(":") == 2 else 60
        yield float(talk)
        self.result.transcript.append(f"the conversation ends after {talk}s")
        return action, {"DialCallStatus": "completed", "DialCallDuration": str(talk), "DialCallSid": dial_sid}

    def _whisper(self, url: str, leg: dict[str, str], accept: bool) -> Generator[float, None, bool]:
        """The agent's leg before the bridge; True when it ends without a verb (Twilio bridges)."""
        root = _parsed(self.sim.send(self.result, url, leg))
        if root is None:
            return False
        self._heard(root)
        gather = next((verb for verb in root if verb.tag == "Gather"), None)
        if gather is None:
            return len(root) == 0
        yield 2.0
        digits = "1" if accept else "2"
        self.result.transcript.append(f"AGENT presses {digits}")
        answer = _parsed(self.sim.send(self.result, gather.get("action", ""), {**leg, "Digits": digits}))
        if answer is None:
            return False
        self._heard(answer)
        return len(answer) == 0

    def _heard(self, root: ET.Element) -> None:
        for said in root.iter("Say"):
            self.result.transcript.append(f"AGENT hears: {(said.text or '').strip()}")

    def _customer(self, verb: ET.Element) -> Play:
        """A callback's agent leg dials the customer (Dial with a routing action)."""
        item = self.items.pop(0) if self.items and CUSTOMER_ITEM.fullmatch(self.items[0]) else "customer:answer"
        who = ", ".join((noun.text or "").strip() for noun in verb) or (verb.text or "").strip()
        self.result.transcript.append(f"dials customer {who}: {item.split(':', 1)[1]}")
        sid = "CA" + secrets.token_hex(16)
        if item == "customer:busy":
            yield 1.0
            return verb.get("action", ""), {"DialCallStatus": "busy", "DialCallDuration": "0", "DialCallSid": sid}
        if item == "customer:no-answer":
            yield float(verb.get("timeout", "30"))
            return verb.get("action", ""), {"DialCallStatus": "no-answer", "DialCallDuration": "0", "DialCallSid": sid}
        talk = int(item.split(":")[2]) if item.count(":") == 2 else 60
        yield self.sim.ring_seconds + talk
        return verb.get("action", ""), {"DialCallStatus": "completed", "DialCallDuration": str(talk),
                                        "DialCallSid": sid}  # fmt: skip

    # -- Dial, Enqueue, Record of the flow ------------------------------------------------------------

    def _network(self, verb: ET.Element) -> tuple[str, dict[str, str]] | None:
        """None: the next verb plays; ("", {}): the call ends; else the request."""
        result, items = self.result, self.items
        action = verb.get("action")
        wanted = {"Dial": DialEnded, "Enqueue": DepartmentEnded, "Record": RecordingEnded}[verb.tag]
        event: Any = None
        if items and not items[0].startswith(HOLD_ITEMS):
            parsed = script.parse_item(items[0])
            if isinstance(parsed, DepartmentEnded) and verb.tag == "Enqueue":
                event = _queue_result(items[0], parsed)
                if event is None:
                    result.problems.append(f"script item {items[0]!r} cannot happen at a Twilio <Enqueue> "
                                           "(this stack has no department routing): use completed, timeout, "
                                           "busy or failed")  # fmt: skip
                    return "", {}
                items.pop(0)
            elif isinstance(parsed, wanted):
                items.pop(0)
                event = parsed
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
                    return "", {}  # nothing to post: the call is over
            else:
                result.transcript.append(f"records: {event.url if recorded else 'nothing'}")
            if not recorded:
                return None  # Twilio requests Record's action only when something was recorded
            params = {"RecordingUrl": event.url or "", "RecordingDuration": str(event.duration),
                      "RecordingSid": event.recording_sid or "RE" + secrets.token_hex(16)}  # fmt: skip
            if event.digits == "hangup":
                params |= {"Digits": "hangup", "last": "1"}
        if not action:
            if verb.tag in ("Dial", "Enqueue"):
                return None  # without an action Twilio continues the document after the verb
            result.problems.append(f"<{verb.tag}> without an action URL")
            return "", {}
        return action, params


def _queue_result(item: str, event: DepartmentEnded) -> QueueEnded | None:
    """The QueueResult for a ``queue:`` item: Twilio's own word when the item is one, else the
    outcome's; None for an outcome no Twilio queue gives (closed, noAgents, callbackRequested...)."""
    word = item.split(":")[1].strip().lower()
    if word in script.LEGACY_QUEUE:
        return QueueEnded(word, event.wait_seconds)
    result = ENQUEUE_RESULTS.get(event.outcome)
    return None if result is None else QueueEnded(result, event.wait_seconds)


def _parsed(body: str | None) -> ET.Element | None:
    try:
        return ET.fromstring(body) if body is not None else None
    except ET.ParseError:
        return None


_SAY = re.compile(r"<Say[^>]*>.*?</Say>", re.S)


def _alike(url: str, replay: tuple[int, str], first: tuple[int, str]) -> bool:
    """A duplicate gets the same answer. In the hold loop an announcement already made for the first
    delivery is not made again (it was due once), so there the spoken lines may differ."""
    if replay == first:
        return True
    if ROUTING_PATH not in url or replay[0] != first[0]:
        return False
    return _SAY.sub("", replay[1]) == _SAY.sub("", first[1])
