"""The in-process call simulator: run a flow with a scripted (or interactive) caller.

It drives ``engine.step`` exactly as the webhooks do, renders and checks every TwiML document, and
answers network waits itself: HTTP requests from mocks, dials and department transfers from the
script or with a stated default. Time is frozen at ``now``. A department transfer is simulated
without any routing store: the script says how it ends (an agent answered, the caller timed out, asked
for a callback...), and the transcript names the department and the priority the caller would wait at.
Nothing is stored and nothing leaves the process, which is why ``POST /api/flows/{id}/execute`` can
expose it safely.

Caller script items (``--input`` on the command line):

    1 / 123 / 42#        digits (a trailing '#' is the finish key and is dropped, as Twilio does)
    speech:I want sales  speech, with punctuation and case as a recogniser returns it; a Gather with
                         input="dtmf" does not listen for speech, so there it is silence
    silence              the Gather times out with no input
    dial:busy[:SECS]     how an outbound dial ends (completed, busy, no-answer, failed, canceled)
    queue:OUTCOME[:SECS] how a transfer to a department ends, after SECS seconds of waiting: completed
                         (talked to an agent), timeout, callbackRequested, voicemail, closed, noAgents,
                         busy (queue full) or failed. Twilio's QueueResult words are read as the
                         outcome an <Enqueue> gives: bridged (completed), leave and redirected
                         (timeout), queue-full (busy), hangup, error, system-error (failed)
    agent:answer[:SECS] / agent:no-answer / agent:busy / agent:decline, press:DIGITS, hold:N,
    customer:...         the items common/callsim.py plays in a department's hold loop over HTTP; here
                         (no store, no loop) at a department transfer: an agent answering is completed;
                         a missed, busy or declined offer puts the caller back (the next item decides);
                         press:1 is callbackRequested (a press:1 right after it confirms the number),
                         press:2 voicemail; hold:N is the caller hanging up while holding. At a Gather,
                         press:DIGITS is the digits
    record:URL[:SECS]    a voicemail recording of SECS seconds (default 12)
    record:none[:SECS]   nothing recorded (SECS is ignored): Twilio does not request Record's action, it
                         plays the next verb (ours is a Redirect to the step, which the flow reads as
                         noAudio); with no verb after <Record> the call ends
    redirect:return[:a=1&b=2]  how other TwiML a redirectNode handed the call to ends: it returns the
                         call (with those parameters), or redirect:timeout, redirect:failed; without
                         such an item the call returns with no parameters
    record:hangup[:SECS] the caller hangs up during the recording. With SECS > 0 seconds of audio,
                         Twilio posts Record's action with that recording and Digits=hangup, and the flow
                         runs on, but the caller is gone: nothing of its answer is heard, the call ends.
                         With nothing recorded (no SECS, or 0) no action is posted: the call just ends
                         (on a live call only the status callback follows)
    hangup               the caller hangs up

Requests to the account's Twilio REST API (an SMS, a call recording) are answered by an HTTP mock
matching their full URL (``https://api.twilio.com/2010-04-01/Accounts/ACsim/Messages.json``), else
with Twilio's success (201 and a made-up sid); the transcript shows the SMS.

When the call waits on the network and the next item is not for that wait, the simulator uses a
default (dial: answered; department: completed, an agent answered after 30 s; recording: 12 s of
audio) and says so in the transcript. When the
call waits for the caller and the script is exhausted, the caller hangs up. Items the call never
consumed are listed in ``Simulation.unused_inputs``. Transfers to a department also name the Twilio
queue a stack without department routing would use for ``tenant``, and the rendered TwiML is that
stack's (<Enqueue>); with routing the caller hears the department's hold loop instead (common/callsim.py
follows it over HTTP). ``departments`` answers ``departments.<id>.*`` in templates, like the host's
lookup of live department state.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from common.core import engine, twiml
from common.core.call import (
    Action,
    CallStarted,
    CallState,
    DepartmentEnded,
    Dial,
    DialEnded,
    DigitsEntered,
    Gather,
    Hangup,
    HttpCompleted,
    HttpRequest,
    InboundEvent,
    NoInput,
    Play,
    Record,
    RecordingEnded,
    Redirect,
    RedirectEnded,
    Say,
    SpeechHeard,
    TransferToDepartment,
    TwilioRequest,
)  # fmt: skip
from common.core.flow import DEPARTMENT_OUTCOMES, PRIORITY_NAMES, CompiledFlow

# Every turn enters a node or re-prompts a collectNode (at most 9 times in a row, maxAttempts <= 10), so
# the engine's step guard ends every call within this many turns; a call still running after it is a bug.
MAX_TURNS = 10 * (engine.MAX_STEPS + 1)
SIM_BASE_URL = "https://simulator.invalid"
SIM_RECORDING = "https://api.twilio.com/2010-04-01/Accounts/ACsim/Recordings/REsimulated"


#: how an outbound dial can end (Twilio's DialCallStatus; answered is read as completed)
DIAL_WORDS = ("completed", "answered", "busy", "no-answer", "failed", "canceled")


class ScriptError(ValueError):
    """A script item that does not parse, or does not fit what the call is waiting for."""


@dataclass(frozen=True)
class HttpMock:
    """Answer requests whose URL contains ``match`` (or matches it as a regex when it starts with ^)."""

    match: str
    status: int = 200
    body: str = ""
    method: str | None = None

    def matches(self, request: HttpRequest) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        if self.match.startswith("^"):
            return re.search(self.match, request.url) is not None
        return self.match in request.url


@dataclass
class Line:
    turn: int
    speaker: Literal["ivr", "caller", "system"]
    text: str


@dataclass
class Simulation:
    transcript: list[Line] = field(default_factory=list)
    twiml: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    state: CallState | None = None
    hung_up_by: Literal["ivr", "caller", "guard"] | None = None
    unused_inputs: list[str] = field(default_factory=list)
    listener: Callable[[Line], None] | None = None

    def add(self, turn: int, speaker: Literal["ivr", "caller", "system"], text: str) -> None:
        line = Line(turn, speaker, text)
        self.transcript.append(line)
        if self.listener is not None:
            self.listener(line)

    @property
    def path(self) -> list[str]:
        return list(self.state.path) if self.state else []

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self.state.variables) if self.state else {}

    def to_dict(self) -> dict[str, Any]:
        state = self.state
        return {
            "transcript": [{"turn": ln.turn, "speaker": ln.speaker, "text": ln.text} for ln in self.transcript],
            "path": self.path, "variables": self.variables,
            "widgets": dict(state.widgets) if state else {},
            "endReason": state.end_reason if state else None, "hungUpBy": self.hung_up_by,
            "turns": len(self.twiml), "steps": state.steps if state else 0,
            "twiml": self.twiml, "problems": self.problems, "events": self.events,
            "unusedInputs": self.unused_inputs,
        }  # fmt: skip

    def render_text(self) -> str:
        width = {"ivr": "IVR   ", "caller": "CALLER", "system": "SYSTEM"}
        out = [f"[{ln.turn:>2}] {width[ln.speaker]}: {ln.text}" for ln in self.transcript]
        state = self.state
        if state is not None:
            out.append(f"path: {' -> '.join(state.path)}")
            out.append(f"variables: {state.variables}")
            out.append(f"ended: {state.end_reason or 'caller hung up'}")
        out += [f"PROBLEM: {p}" for p in self.problems]
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class HoldItem:
    """A script item for a department's hold loop or an agent's leg (``press``, ``hold``, ``agent``,
    ``customer``) and its value (``1``, ``3``, ``answer:45``, ``no-answer``)."""

    kind: Literal["press", "hold", "agent", "customer"]
    value: str


_HOLD_GRAMMAR = {"press": r"\+?[0-9*#]+", "hold": r"[0-9]+", "agent": r"answer(:[0-9]+)?|no-answer|busy|decline",
                 "customer": r"answer(:[0-9]+)?|no-answer|busy"}  # fmt: skip


def parse_item(item: str) -> InboundEvent | HoldItem | Literal["hangup"]:
    text = item.strip()
    kind, _, rest = text.partition(":")
    kind = kind.lower()
    if re.fullmatch(r"[0-9*#]+", text):
        return DigitsEntered(text[:-1] if len(text) > 1 and text.endswith("#") else text)
    if kind == "speech" and rest:
        return SpeechHeard(rest, 0.9)
    if text.lower() == "silence":
        return NoInput()
    if text.lower() == "hangup":
        return "hangup"
    value, _, secs = rest.partition(":")
    seconds = int(secs) if secs.isdigit() else 0
    if kind == "dial" and value:
        status = value.lower()
        if status not in DIAL_WORDS:
            raise ScriptError(f"cannot read input {item!r}: a dial ends {', '.join(DIAL_WORDS)}")
        return DialEnded(status, seconds or (60 if status in ("completed", "answered") else 0))
    if kind == "queue" and value:
        outcome = QUEUE_WORDS.get(value.lower())
        if outcome is None:
            raise ScriptError(f"cannot read input {item!r}: a department transfer ends "
                              f"{', '.join(DEPARTMENT_OUTCOMES)} (or a QueueResult: {', '.join(LEGACY_QUEUE)})")
        return DepartmentEnded(outcome, seconds)
    if kind == "record" and rest:
        if value.lower() == "none":  # record:none[:SECS]: nothing recorded, whatever the seconds say
            return RecordingEnded(None, 0)
        if rest == "hangup" or rest.startswith("hangup:"):
            secs = rest[len("hangup:"):]
            if secs and not secs.isdigit():
                raise ScriptError(f"cannot read input {item!r}: use record:hangup or record:hangup:SECS")
            if int(secs or 0) == 0:
                return RecordingEnded(None, 0, "hangup")
            return RecordingEnded(SIM_RECORDING, int(secs), "hangup", "REsimulated")
        url, _, secs = rest.rpartition(":") if rest.rsplit(":", 1)[-1].isdigit() else (rest, "", "12")
        return RecordingEnded(url, int(secs or 12), recording_sid="REsimulated")
    if kind == "redirect" and value.lower() in ("return", "timeout", "failed"):
        params = dict(pair.partition("=")[::2] for pair in secs.split("&") if pair) if secs else {}
        return RedirectEnded(value.lower(), params)
    if kind in _HOLD_GRAMMAR and re.fullmatch(_HOLD_GRAMMAR[kind], rest):
        return HoldItem(kind, rest)  # type: ignore[arg-type]
    raise ScriptError(
        f"cannot read input {item!r}: use digits (1, 42#), speech:TEXT, silence, hangup, dial:STATUS[:SECS], "
        "queue:OUTCOME[:SECS], record:URL[:SECS], record:none, record:hangup[:SECS], redirect:return[:a=1], "
        "redirect:timeout, redirect:failed, or for a department's "
        "hold loop press:DIGITS, hold:N, agent:answer[:SECS]|no-answer|busy|decline, "
        "customer:answer[:SECS]|no-answer|busy"
    )


#: Twilio's QueueResult words, read as the outcome an <Enqueue> gives (engine._QUEUE_OUTCOMES)
LEGACY_QUEUE = {"bridged": "completed", "leave": "timeout", "redirected": "timeout", "queue-full": "busy",
                "hangup": "failed", "error": "failed", "system-error": "failed"}  # fmt: skip
QUEUE_WORDS = {**{o.lower(): o for o in DEPARTMENT_OUTCOMES}, **LEGACY_QUEUE}

CallerFn = Callable[[str, str, int], str | None]
"""Asked for the next caller action: (waiting kind, node id, turn) -> script item, or None to hang up."""


def scripted(items: Sequence[str]) -> CallerFn:
    queue = list(items)

    def next_item(waiting: str, node_id: str, turn: int) -> str | None:
        return queue.pop(0) if queue else None

    next_item.remaining = queue  # type: ignore[attr-defined]
    return next_item


def _describe(action: Action, queue: Callable[[str], str]) -> tuple[Literal["ivr", "system"], str]:
    if isinstance(action, Say):
        return "ivr", action.text
    if isinstance(action, Play):
        return "ivr", f"(plays {action.url})"
    if isinstance(action, Gather):
        prompts = " ".join(p.text if isinstance(p, Say) else f"(plays {p.url})" for p in action.prompts)
        return "ivr", f"{prompts} [waits for {action.input}, {action.timeout}s]"
    if isinstance(action, Dial):
        who = ", ".join(action.numbers) or action.sip or action.client or "?"
        return "system", f"dials {who} (ring {action.timeout}s)"
    if isinstance(action, TransferToDepartment):
        named = {v: k for k, v in PRIORITY_NAMES.items()}.get(action.priority)
        level = f"{named} ({action.priority})" if named else str(action.priority)
        wait = f", at most {action.max_wait_seconds}s" if action.max_wait_seconds else ""
        return "system", (f"transfers to department '{action.department}' at priority {level}{wait}: "
                          f"queue {queue(action.department)}")  # fmt: skip
    if isinstance(action, Record):
        return "system", f"records voicemail (max {action.max_length}s)"
    if isinstance(action, HttpRequest):
        return "system", f"HTTP {action.method} {action.url}"
    if isinstance(action, TwilioRequest) and action.purpose == "message":
        form = action.form()
        media = f" with {form['MediaUrl'][0]}" if "MediaUrl" in form else ""
        return "system", f"sends SMS from {form['From'][0]} to {form['To'][0]}{media}: {form['Body'][0]}"
    if isinstance(action, TwilioRequest):
        return "system", f"Twilio API {action.method} {action.path} ({action.purpose})"
    if isinstance(action, Redirect):
        return "system", f"redirects the call to {action.url}"
    assert isinstance(action, Hangup)
    return "system", "hangs up"


def simulate(flow: CompiledFlow, caller: CallerFn | Sequence[str], *, now: datetime,
             http: Sequence[HttpMock] = (), caller_number: str = "+15005550006",
             dialled_number: str = "+13072249663", version: str = "draft",
             schedules: engine.ScheduleLookup | None = None,
             call_sid: str = "CA00000000000000000000000000000000",
             listener: Callable[[Line], None] | None = None, tenant: str | None = None,
             departments: engine.DepartmentLookup | None = None) -> Simulation:  # fmt: skip
    """Run one call from start to end; raises ScriptError for a script item that does not fit.
    ``tenant`` names the Twilio queues as the live stack does (``<tenant>.<department>``)."""
    next_item = scripted(caller) if not callable(caller) else caller
    sim = Simulation(listener=listener)
    _run(sim, flow, next_item, now, http, caller_number, dialled_number, version, schedules, call_sid, tenant,
         departments)
    sim.unused_inputs = list(getattr(next_item, "remaining", []))
    return sim


def _run(sim: Simulation, flow: CompiledFlow, next_item: CallerFn, now: datetime, http: Sequence[HttpMock],
         caller_number: str, dialled_number: str, version: str, schedules: engine.ScheduleLookup | None,
         call_sid: str, tenant: str | None, departments: engine.DepartmentLookup | None = None) -> None:  # fmt: skip
    urls = twiml.UrlBuilder(SIM_BASE_URL)

    def queue(department: str) -> str:
        return urls.queue_name(department, tenant)

    event: InboundEvent = CallStarted({"CallSid": call_sid, "From": caller_number, "To": dialled_number,
                                       "Direction": "inbound", "CallStatus": "ringing"})  # fmt: skip
    state: CallState | None = None
    for turn in range(1, MAX_TURNS + 1):
        result = engine.step(flow, state, event, now, schedules, version, departments)
        state = result.state
        sim.state = state
        document = twiml.render(result.actions, urls, state.seq + 1, tenant)
        sim.twiml.append(document)
        sim.problems += [f"turn {turn}: {p}" for p in twiml.check(document)]
        sim.events += [{"type": e.type, "seq": e.seq, "nodeId": e.node_id, **e.data} for e in result.events]
        if isinstance(event, RecordingEnded) and event.digits == "hangup":
            # Twilio posted the recording of a caller who hung up: it ignores our answer, the call is over.
            sim.hung_up_by = "caller"
            return
        for invalid in (e for e in result.events if e.type == "transfer.priority_invalid"):
            sim.add(turn, "system", f"priority rendered as {invalid.data['rendered']!r}, not a priority: "
                                    "the caller waits at normal")  # fmt: skip
        for action in result.actions:
            speaker, text = _describe(action, queue)
            sim.add(turn, speaker, text)
        if state.status == "ended":
            sim.hung_up_by = "guard" if state.end_reason in ("loop_guard", "step_limit") else "ivr"
            return
        answer = _answer(state, result.actions, document, next_item, http, turn, sim)
        if answer == "caller" or answer == "ivr":
            sim.hung_up_by = answer
            return
        event = answer
    sim.problems.append(f"the call did not end within {MAX_TURNS} turns")  # pragma: no cover


Ender = Literal["caller", "ivr"]


def _answer(state: CallState, actions: Sequence[Action], document: str, next_item: CallerFn,
            http: Sequence[HttpMock], turn: int, sim: Simulation) -> InboundEvent | Ender:  # fmt: skip
    """The request Twilio makes next, as the event the step handler reads from it; or who ended the call."""
    waiting, node = state.waiting or "", state.cursor or ""
    if waiting == "http" and any(isinstance(a, TwilioRequest) for a in actions):
        return _twilio_api(next(a for a in actions if isinstance(a, TwilioRequest)), http, turn, sim)
    if waiting == "http":
        request = next(a for a in actions if isinstance(a, HttpRequest))
        mock = next((m for m in http if m.matches(request)), None)
        if mock is None:
            sim.add(turn, "system", f"no HTTP mock matches {request.url}: request fails")
            return HttpCompleted(0, "", f"no mock for {request.method} {request.url}")
        sim.add(turn, "system", f"HTTP answer {mock.status}")
        return HttpCompleted(mock.status, mock.body)
    peek = next_item(waiting, node, turn)
    if peek is None:
        if waiting == "input":
            sim.add(turn, "caller", "hangs up")
            return "caller"
        return _default_network(waiting, turn, sim)
    parsed = parse_item(peek)
    if parsed == "hangup":
        sim.add(turn, "caller", "hangs up")
        return "caller"
    if waiting == "input" and isinstance(parsed, HoldItem) and parsed.kind == "press":
        parsed = DigitsEntered(parsed.value[:-1] if len(parsed.value) > 1 and parsed.value.endswith("#")
                               else parsed.value)  # fmt: skip
    if waiting == "queue" and isinstance(parsed, HoldItem):
        return _holding(parsed, next_item, node, turn, sim)
    if waiting == "input" and isinstance(parsed, SpeechHeard):
        gather = next((a for a in actions if isinstance(a, Gather)), None)
        if gather is not None and "speech" not in gather.input.split():
            sim.add(turn, "caller", f'says "{parsed.text}" (not heard: the Gather takes keys only)')
            return NoInput()
    if waiting == "input" and isinstance(parsed, DigitsEntered | SpeechHeard | NoInput):
        said = {DigitsEntered: lambda e: f"presses {e.digits}", SpeechHeard: lambda e: f'says "{e.text}"',
                NoInput: lambda e: "(silence)"}[type(parsed)](parsed)  # fmt: skip
        sim.add(turn, "caller", said)
        return parsed
    if waiting == "record" and isinstance(parsed, RecordingEnded):
        return _recording(parsed, document, turn, sim)
    if waiting == "redirect" and isinstance(parsed, RedirectEnded):
        sim.add(turn, "system", f"the other TwiML ends: {parsed.outcome}" + (f" with {parsed.params}" if parsed.params
                                                                               else ""))  # fmt: skip
        return parsed
    fits = {"dial": DialEnded, "queue": DepartmentEnded}.get(waiting)
    if isinstance(parsed, DepartmentEnded) and waiting == "queue":
        waited = f" after {parsed.wait_seconds}s" if parsed.wait_seconds else ""
        sim.add(turn, "system", f"department result: {parsed.outcome}{waited}")
        return parsed
    if fits is not None and isinstance(parsed, fits) and not isinstance(parsed, HoldItem):
        sim.add(turn, "system", f"{waiting} result: {peek.split(':', 1)[1]}")
        return parsed
    if waiting == "input":
        raise ScriptError(f"input {peek!r} does not fit: the call waits for the caller at node '{node}'")
    # A caller action scripted while the network is busy: keep it for later, use the default now.
    remaining = getattr(next_item, "remaining", None)
    if remaining is not None:
        remaining.insert(0, peek)
    return _default_network(waiting, turn, sim)


def _holding(item: HoldItem, next_item: CallerFn, node: str, turn: int, sim: Simulation) -> InboundEvent | Ender:
    """Hold-loop items at a department transfer, without a queue: what they end the transfer with."""
    while True:
        if item.kind == "agent" and item.value.startswith("answer"):
            sim.add(turn, "system", "department result: completed, an agent answered")
            return DepartmentEnded("completed")
        if item.kind == "agent":
            sim.add(turn, "system", f"an agent's leg: {item.value}; the caller goes back to their place")
        elif item.kind == "press" and item.value in ("1", "2"):
            sim.add(turn, "caller", f"presses {item.value} while holding")
            if item.value == "2":
                return DepartmentEnded("voicemail")
            remaining = getattr(next_item, "remaining", None)
            if remaining and remaining[0].strip() == "press:1":
                remaining.pop(0)
                sim.add(turn, "caller", "presses 1 to confirm the number")
            return DepartmentEnded("callbackRequested")
        elif item.kind == "hold":
            sim.add(turn, "caller", "hangs up while holding")
            return "caller"
        else:
            sim.add(turn, "system", f"{item.kind}:{item.value} does nothing while holding")
        peek = next_item("queue", node, turn)
        if peek is None:
            return _default_network("queue", turn, sim)
        parsed = parse_item(peek)
        if parsed == "hangup":
            sim.add(turn, "caller", "hangs up")
            return "caller"
        if isinstance(parsed, DepartmentEnded):
            sim.add(turn, "system", f"department result: {parsed.outcome}")
            return parsed
        if not isinstance(parsed, HoldItem):
            remaining = getattr(next_item, "remaining", None)
            if remaining is not None:
                remaining.insert(0, peek)  # for the flow, after the transfer
            return _default_network("queue", turn, sim)
        item = parsed


def _recording(recording: RecordingEnded, document: str, turn: int, sim: Simulation) -> InboundEvent | Ender:
    recorded = bool(recording.url) and recording.duration > 0
    if recording.digits == "hangup":
        sim.add(turn, "caller", f"hangs up during the recording ({recording.duration}s recorded)" if recorded
                else "hangs up during the recording (nothing recorded)")  # fmt: skip
        return recording if recorded else "caller"  # the recording is posted; nothing is without one
    if recorded:
        sim.add(turn, "system", f"record result: {recording.url}, {recording.duration}s")
        return recording
    # Twilio requests Record's action only when something was recorded; otherwise the next verb runs.
    verbs = [child.tag for child in ET.fromstring(document)]
    after = verbs[verbs.index("Record") + 1 :] if "Record" in verbs else []
    if after[:1] == ["Redirect"]:
        sim.add(turn, "system", "nothing recorded: Twilio skips the Record action and follows the <Redirect>")
        return RecordingEnded(None, 0)  # what the step handler reads from a request without Recording*
    sim.add(turn, "system", "nothing recorded and no verb after <Record>: Twilio hangs up" if not after else
            f"nothing recorded: Twilio plays the verbs after <Record> ({', '.join(after)}) and hangs up")  # fmt: skip
    return "ivr"


SIM_ACCOUNT = "ACsim"
TWILIO_API = "https://api.twilio.com/2010-04-01/Accounts/"


def _twilio_api(request: TwilioRequest, http: Sequence[HttpMock], turn: int, sim: Simulation) -> InboundEvent:
    url = f"{TWILIO_API}{SIM_ACCOUNT}/{request.path}"
    as_http = HttpRequest(request.method, url, {}, None, "application/x-www-form-urlencoded", request.timeout_seconds)
    mock = next((m for m in http if m.matches(as_http)), None)
    if mock is not None:
        sim.add(turn, "system", f"Twilio API answer {mock.status}")
        return HttpCompleted(mock.status, mock.body)
    prefix = {"message": "SM", "recording": "RE"}.get(request.purpose, "XX")
    sim.add(turn, "system", f"Twilio API answer 201 ({request.purpose} accepted)")
    return HttpCompleted(201, f'{{"sid": "{prefix}simulated", "status": "queued"}}')


def _default_network(waiting: str, turn: int, sim: Simulation) -> InboundEvent:
    defaults: dict[str, tuple[InboundEvent, str]] = {
        "dial": (DialEnded("completed", 60), "dial answered (default), call lasted 60s"),
        "queue": (DepartmentEnded("completed", 30), "department result: completed, an agent answered after 30s "
                  "(default)"),
        "record": (RecordingEnded(SIM_RECORDING, 12, recording_sid="REsimulated"),
                   "voicemail recorded, 12s (default)"),
        "redirect": (RedirectEnded("return"), "the other TwiML returns the call (default)"),
    }  # fmt: skip
    event, text = defaults[waiting]
    sim.add(turn, "system", text)
    return event
