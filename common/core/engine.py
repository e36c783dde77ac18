"""The flow engine: one pure step function.

    step(flow, state, event, now, schedules, departments=...) -> StepResult(actions, new_state, events)

A call advances in turns. Each turn starts with one inbound event (the call started, the caller
pressed digits, a dial ended, an HTTP request came back...) and runs nodes until the call must wait
for the caller or the network, or ends. The engine does no I/O and reads no clock: ``now`` is passed in,
HTTP requests are returned as actions for the host to perform, schedules and live department state
(``departments.<id>.available``...) are lookups handed in by the host and called only when a node
or template needs them.

Rules owned here (the legal transitions):

    waiting     accepted event                         node kinds that wait there
    ---------   ------------------------------------   ------------------------------------------
    (none)      CallStarted                            (a new call; the state argument is None)
    "input"     DigitsEntered, SpeechHeard, NoInput    collectNode
    "dial"      DialEnded                              transferNode to a number, SIP URI or client
    "queue"     DepartmentEnded, QueueEnded            transferNode to a department
    "record"    RecordingEnded                         voicemailNode
    "http"      HttpCompleted                          httpRequestNode, messageNode, recordCallNode
    "redirect"  RedirectEnded (HttpCompleted)          redirectNode (see engine_services)

Anything else raises ``UnexpectedEvent`` and the given state is untouched (it is frozen; a new one is
built only when the turn succeeds).

- A transfer's numbers, SIP URI, client identity and caller id may be templates: each is rendered
  per call and must then have its form (E.164 after removing spaces, dashes, dots and brackets; a
  ``sip:`` URI; a client identity). A rendering that does not is left out (``transfer.invalid_target``
  event); a caller id that does not is Twilio's default; a dial left with nobody to ring ends at once
  as ``failed``.
- A department transfer ends with the outcome routing reports (``DepartmentEnded``: completed,
  timeout, callbackRequested, voicemail, closed, noAgents, busy, failed; anything else is failed).
  ``QueueEnded`` is what a Twilio <Enqueue> reports (a host without routing, or a call that was
  waiting in a Twilio queue before routing existed): bridged -> completed, queue-full -> busy, leave
  and redirected -> timeout, anything else -> failed. A ``timeout`` follows the node's ``noAnswer``
  edge when it has no ``timeout`` edge but has that one (flows written before department routing).
- A department transfer's priority is rendered and parsed per call (high/normal/low or 0-999); a
  rendering that is neither means ``normal``, recorded as a ``transfer.priority_invalid`` event.
- An outcome with no edge ends the call politely: the flow's goodbye message, then hang up. The
  validator warns about such outcomes before publish; at run time they are a normal ending, recorded
  as ``unhandled_outcome`` with the node and outcome.
- Guards: at most ``MAX_STEPS`` node entries per call; a node entered ``MAX_STREAK`` times without
  caller input in between (digits, speech or a recording; silence does not count) ends the call with
  the flow's error message. Both protect callers from flows that loop forever.
- Every node entry is appended to ``path`` and emitted as a ``node.entered`` event.
- A text whose template does not parse (a version stored before that field was validated) never
  fails the turn: it is spoken without its markup (a settings message left empty by that falls back
  to the default message) and recorded as a ``template.invalid`` event with the field and error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.core import conditions, engine_services, templating
from common.core.call import (
    Action,
    CallStarted,
    CallState,
    DepartmentEnded,
    Dial,
    DialEnded,
    DigitsEntered,
    FlowEvent,
    Gather,
    Hangup,
    HttpCompleted,
    HttpRequest,
    InboundEvent,
    NoInput,
    Play,
    QueueEnded,
    Record,
    RecordingEnded,
    RedirectEnded,
    Say,
    SpeechHeard,
    StepResult,
    TransferToDepartment,
    Waiting,
)  # fmt: skip
from common.core.errors import EngineError, UnexpectedEvent
from common.core.flow import (
    CLIENT_PATTERN,
    DEPARTMENT_OUTCOMES,
    E164_PATTERN,
    NEXT,
    PRIORITY_NAMES,
    SIP_PATTERN,
    ClientTarget,
    CollectNode,
    CompiledFlow,
    DecisionNode,
    DepartmentTarget,
    FlowSettings,
    HangupNode,
    HoursNode,
    HttpRequestNode,
    NodeBase,
    NumberTarget,
    SayNode,
    SetVariablesNode,
    SipTarget,
    StartNode,
    TransferNode,
    VoicemailNode,
    parse_priority,
)  # fmt: skip

MAX_STEPS = 1_000
MAX_STREAK = 10
MAX_HTTP_BODY = 64 * 1024
DEFAULT_NO_INPUT = "Sorry, I didn't get that."
DEFAULT_NO_MATCH = "Sorry, that is not a valid choice."
GOODBYE_FIELD, ERROR_FIELD = "settings.goodbyeMessage", "settings.errorMessage"
#: what a caller hears when a settings text is a template that does not parse and nothing is left of it
_SAFE_TEXT = {GOODBYE_FIELD: FlowSettings.model_fields["goodbye_message"].default,
              ERROR_FIELD: FlowSettings.model_fields["error_message"].default}  # fmt: skip

#: Host-supplied answer to "is this named schedule open at this instant?"; None when unknown.
ScheduleLookup = Callable[[str, datetime], bool | None]
#: Host-supplied live state of a department (available, staffed, waiting, expectedWait); None when unknown.
DepartmentLookup = Callable[[str], Mapping[str, Any] | None]
MAX_CONTEXT_VALUE = 256  # characters of one rendered context value (the whole context stays a few kB)

_DIAL_OUTCOMES = {"completed": "completed", "answered": "completed", "busy": "busy",
                  "no-answer": "noAnswer", "failed": "failed", "canceled": "failed"}  # fmt: skip
_QUEUE_OUTCOMES = {"bridged": "completed", "queue-full": "busy", "leave": "timeout",
                   "redirected": "timeout", "error": "failed", "system-error": "failed"}  # fmt: skip


@lru_cache(maxsize=512)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # validation refuses these; never fail a live call
        return UTC


_Wait = engine_services.Wait  # internal signal: the current node waits; the turn ends here


class LiveDepartments(Mapping[str, Any]):
    """``departments`` in templates: each department's state looked up when a template first reads it
    (once per turn), so a turn that reads no department costs the host nothing. Unknown: empty."""

    def __init__(self, lookup: DepartmentLookup | None) -> None:
        self._lookup = lookup
        self._seen: dict[str, Mapping[str, Any]] = {}

    def __getitem__(self, department: str) -> Mapping[str, Any]:
        if department not in self._seen:
            found = self._lookup(department) if self._lookup is not None else None
            self._seen[department] = dict(found) if found is not None else {}
        return self._seen[department]

    def __iter__(self) -> Any:
        return iter(self._seen)

    def __len__(self) -> int:
        return len(self._seen)


class LocalNow(Mapping[str, Any]):
    """``now`` in templates and rules: the turn's time in the flow's timezone, formatted when a template
    first reads it (most turns read no time, and the conversion and formatting are a noticeable share
    of a turn's cost)."""

    KEYS = ("iso", "date", "time", "weekday")

    def __init__(self, now: datetime, timezone: str) -> None:
        self._now, self._timezone = now, timezone
        self._values: dict[str, str] | None = None

    def _formatted(self) -> dict[str, str]:
        if self._values is None:
            local = self._now.astimezone(_zone(self._timezone))
            self._values = {"iso": local.isoformat(), "date": local.date().isoformat(),
                            "time": local.strftime("%H:%M"), "weekday": local.strftime("%A")}  # fmt: skip
        return self._values

    def __getitem__(self, key: str) -> str:
        return self._formatted()[key]

    def __iter__(self) -> Any:
        return iter(self.KEYS)

    def __len__(self) -> int:
        return len(self.KEYS)

    def __str__(self) -> str:  # ``{{ now }}`` prints what it printed as a plain dict
        return str(self._formatted())

    __repr__ = __str__


class _Turn:
    """The mutable working copy of one turn. Built from a frozen state, frozen again at the end."""

    def __init__(self, flow: CompiledFlow, state: CallState, now: datetime,
                 schedules: ScheduleLookup | None, departments: DepartmentLookup | None = None) -> None:  # fmt: skip
        self.flow = flow
        self.settings = flow.flow.settings
        self.now = now
        self.schedules = schedules
        self.seq = state.seq + 1
        self.variables = dict(state.variables)
        self.widgets = dict(state.widgets)
        self.path = list(state.path)
        self.streak = dict(state.streak)
        self.steps = state.steps
        self.attempts = state.attempts
        self.trigger = state.trigger
        self.now_iso = now.isoformat()  # every event of the turn carries it
        self.actions: list[Action] = []
        self.events: list[FlowEvent] = []
        self.cursor: str | None = state.cursor
        self.waiting: Waiting | None = None
        self.end_reason: str | None = None
        self._departments = departments

    @cached_property
    def context(self) -> dict[str, Any]:
        """What templates read: built on the turn's first template (most turns render none). It
        holds the turn's own variables and widgets, so it sees what the turn changes after."""
        return {
            "trigger": {"call": self.trigger},
            "flow": {"variables": self.variables, "data": self.variables, "id": self.flow.flow.id},
            "widgets": self.widgets,
            "caller": {"from": self.trigger.get("From", ""), "to": self.trigger.get("To", ""),
                       "sid": self.trigger.get("CallSid", "")},
            "now": LocalNow(self.now, self.settings.timezone),
            "departments": LiveDepartments(self._departments),
        }  # fmt: skip

    # -- helpers ---------------------------------------------------------------------------------

    def emit(self, type_: str, node_id: str | None = None, **data: Any) -> None:
        self.events.append(FlowEvent(type_, self.seq, self.now_iso, node_id, data))

    def render(self, source: str, field: str | None = None) -> str:
        broken = templating.problem(source)
        if broken is not None:
            # Only a version stored before its field was checked gets here; the call goes on.
            self.emit("template.invalid", self.cursor, field=field or "", error=str(broken)[:200])
            return templating.without_markup(source) or _SAFE_TEXT.get(field or "", "")
        return templating.render(source, self.context) if templating.is_template(source) else source

    def say(self, text: str, voice: str | None, language: str | None, loop: int = 1,
            field: str | None = None) -> Say:  # fmt: skip
        return Say(self.render(text, field)[:4096], voice or self.settings.voice,
                   language or self.settings.language, loop)  # fmt: skip

    def caller_acted(self) -> None:
        self.streak.clear()

    def end(self, reason: str, message: str | None, node_id: str | None = None, *,
            field: str | None = None, **data: Any) -> None:  # fmt: skip
        """``field``: where ``message`` comes from when it is a flow setting (for a broken template)."""
        if message:
            self.actions.append(self.say(message, None, None, field=field))
        self.actions.append(Hangup())
        self.end_reason = reason
        self.cursor = None
        self.emit("call.ended", node_id, reason=reason, **data)

    # -- running ---------------------------------------------------------------------------------

    def follow(self, node: NodeBase, outcome: str) -> None:
        """Leave ``node`` by ``outcome`` and run nodes until the call waits or ends."""
        target = self.flow.next_node(node.id, outcome)
        if target is None:
            self.end("unhandled_outcome", self.settings.goodbye_message, node.id, field=GOODBYE_FIELD, outcome=outcome)
            return
        self.run_from(target)

    def run_from(self, node_id: str) -> None:
        while True:
            node = self.flow.nodes[node_id]
            self.steps += 1
            count = self.streak.get(node_id, 0) + 1
            self.streak[node_id] = count
            if self.steps > MAX_STEPS:
                self.end("step_limit", self.settings.error_message, node_id, field=ERROR_FIELD, limit=MAX_STEPS)
                return
            if count > MAX_STREAK:
                self.end("loop_guard", self.settings.error_message, node_id, field=ERROR_FIELD, limit=MAX_STREAK)
                return
            self.path.append(node_id)
            self.cursor = node_id
            self.attempts = 0
            self.emit("node.entered", node_id, type=getattr(node, "type", ""))
            try:
                outcome = _ENTER[type(node)](self, node)
            except _Wait as wait:
                self.waiting = wait.kind
                return
            if outcome is None:  # the node ended the call
                return
            target = self.flow.next_node(node_id, outcome)
            if target is None:
                self.end("unhandled_outcome", self.settings.goodbye_message, node_id, field=GOODBYE_FIELD,
                         outcome=outcome)  # fmt: skip
                return
            node_id = target

    def freeze(self, state: CallState) -> CallState:
        """The state after this turn: every field the turn owns replaced (a copy with an update: half
        the cost of ``model_construct``, which walks every field's default); ``department_wait`` is
        cleared, because a new turn means the call left that wait."""
        ended = self.end_reason is not None
        return state.model_copy(update={
            "seq": self.seq, "status": "ended" if ended else "active", "cursor": self.cursor,
            "waiting": None if ended else self.waiting, "attempts": self.attempts,
            "variables": self.variables, "widgets": self.widgets, "trigger": self.trigger, "path": self.path,
            "steps": self.steps, "streak": self.streak, "end_reason": self.end_reason, "department_wait": None,
        })  # fmt: skip


# --- entering nodes: return the outcome to follow, None when the call ended, or raise _Wait --------


def _enter_start(turn: _Turn, node: StartNode) -> str:
    return NEXT


def _enter_say(turn: _Turn, node: SayNode) -> str:
    d = node.data
    if d.audio_url is not None:
        turn.actions.append(Play(turn.render(d.audio_url), d.loop))
    else:
        turn.actions.append(turn.say(d.text or "", d.voice, d.language, d.loop))
    return NEXT


def _gather(turn: _Turn, node: CollectNode, lead: str | None) -> None:
    d = node.data
    prompts: list[Say | Play] = []
    if lead:
        prompts.append(turn.say(lead, d.voice, d.language))
    if d.prompt_audio_url is not None:
        prompts.append(Play(turn.render(d.prompt_audio_url)))
    if d.prompt is not None:
        prompts.append(turn.say(d.prompt, d.voice, d.language))
    speech = "speech" in d.input_type
    turn.actions.append(Gather(
        input=d.input_type, timeout=d.timeout, prompts=tuple(prompts), num_digits=d.num_digits,
        finish_on_key=d.finish_on_key, speech_timeout=str(d.speech_timeout) if speech else None,
        speech_model=d.speech_model if speech else None, hints=tuple(d.hints) if speech else (),
        language=(d.language or turn.settings.language) if speech else None,
    ))  # fmt: skip


def _enter_collect(turn: _Turn, node: CollectNode) -> str:
    _gather(turn, node, None)
    raise _Wait("input")


def _enter_decision(turn: _Turn, node: DecisionNode) -> str:
    default_input = turn.render(node.data.input)
    for rule in node.data.rules:
        value = default_input if rule.input is None else turn.render(rule.input)
        expected = rule.value
        if isinstance(expected, str):  # rule values may be templates too ("{{ flow.variables.limit }}")
            expected = turn.render(expected)
        elif isinstance(expected, list):
            expected = [turn.render(item) for item in expected]
        if conditions.evaluate(rule.operator, value, expected):
            turn.emit("decision.matched", node.id, rule=rule.id, input=value)
            return rule.id
    turn.emit("decision.matched", node.id, rule="default", input=default_input)
    return "default"


def _enter_transfer(turn: _Turn, node: TransferNode) -> str:
    d, target = node.data, node.data.target
    if d.message:
        turn.actions.append(turn.say(d.message, d.voice, d.language))
    if isinstance(target, DepartmentTarget):
        context = {key: turn.render(value)[:MAX_CONTEXT_VALUE] for key, value in target.context.items()}
        priority = _priority(turn, node, target)
        turn.actions.append(TransferToDepartment(target.department, priority, context, target.max_wait_seconds))
        turn.emit("transfer.started", node.id, department=target.department, priority=priority)
        raise _Wait("queue")
    dial = _dial_target(turn, node)
    if dial is None:
        turn.widgets[node.id] = {"DialCallStatus": "failed", "DialCallDuration": 0}
        turn.emit("transfer.ended", node.id, outcome="failed", reason="no_target")
        return "failed"
    caller_id = _rendered(turn, node, d.caller_id, _E164) if d.caller_id else None
    turn.actions.append(Dial(dial.numbers, dial.sip, dial.client, caller_id, d.timeout, d.record))
    turn.emit("transfer.started", node.id, target=target.type)
    raise _Wait("dial")


_E164 = re.compile(E164_PATTERN)
_SIP = re.compile(SIP_PATTERN)
_CLIENT = re.compile(CLIENT_PATTERN)
_NUMBER_PUNCTUATION = re.compile(r"[\s().-]")


def _rendered(turn: _Turn, node: TransferNode, value: str, form: re.Pattern[str]) -> str | None:
    """``value`` as dialled: itself, or what its template renders to when that has ``form``."""
    if not templating.is_template(value):
        return value
    text = turn.render(value).strip()
    if form is _E164:
        text = _NUMBER_PUNCTUATION.sub("", text)
    if form.fullmatch(text) and len(text) <= 512:
        return text
    turn.emit("transfer.invalid_target", node.id, rendered=text[:100])
    return None


def _dial_target(turn: _Turn, node: TransferNode) -> Dial | None:
    target = node.data.target
    if isinstance(target, NumberTarget):
        numbers = [n for n in (_rendered(turn, node, v, _E164) for v in target.numbers) if n]
        return Dial(numbers=tuple(dict.fromkeys(numbers))) if numbers else None
    if isinstance(target, SipTarget):
        uri = _rendered(turn, node, target.uri, _SIP)
        return Dial(sip=uri) if uri else None
    assert isinstance(target, ClientTarget)
    identity = _rendered(turn, node, target.identity, _CLIENT)
    return Dial(client=identity) if identity else None


def _priority(turn: _Turn, node: TransferNode, target: DepartmentTarget) -> int:
    raw = target.priority if isinstance(target.priority, int) else turn.render(target.priority)
    level = parse_priority(raw)
    if level is None:  # a template that rendered to something else: the caller still gets in line
        turn.emit("transfer.priority_invalid", node.id, rendered=str(raw)[:100], used="normal")
        return PRIORITY_NAMES["normal"]
    return level


def _enter_set_variables(turn: _Turn, node: SetVariablesNode) -> str:
    for assignment in node.data.variables:
        turn.variables[assignment.name] = turn.render(assignment.value)
    return NEXT


def _enter_http(turn: _Turn, node: HttpRequestNode) -> str | None:
    d = node.data
    url = turn.render(d.url).strip()
    if not url.startswith(("https://", "http://")):
        turn.widgets[node.id] = {"status_code": 0, "body": "", "parsed": None,
                                 "error": f"rendered URL {url[:200]!r} is not http(s)"}  # fmt: skip
        turn.emit("http.failed", node.id, error="bad_url")
        return "failed"
    params = [(p.name, turn.render(p.value)) for p in d.parameters]
    body: str | None = None
    if d.method == "GET" and params:
        from urllib.parse import urlencode

        url += ("&" if "?" in url else "?") + urlencode(params)
    elif d.method == "POST":
        if d.content_type == "application/json":
            body = turn.render(d.body) if d.body is not None else json.dumps(dict(params))
        else:
            from urllib.parse import urlencode

            body = urlencode(params) if params else turn.render(d.body or "")
    headers = {name: turn.render(value) for name, value in d.headers.items()}
    turn.actions.append(HttpRequest(d.method, url, headers, body, d.content_type, d.timeout_seconds))
    turn.emit("http.requested", node.id, method=d.method)
    raise _Wait("http")


def _enter_voicemail(turn: _Turn, node: VoicemailNode) -> str:
    d = node.data
    if d.prompt:
        turn.actions.append(turn.say(d.prompt, d.voice, d.language))
    turn.actions.append(Record(d.max_length, d.finish_on_key, d.play_beep, d.transcribe, d.timeout))
    raise _Wait("record")


def _enter_hangup(turn: _Turn, node: HangupNode) -> None:
    d = node.data
    if d.message:
        turn.actions.append(turn.say(d.message, d.voice, d.language))
    turn.actions.append(Hangup())
    turn.end_reason = "hangup_node"
    turn.cursor = None
    turn.emit("call.ended", node.id, reason="hangup_node")
    return None


def _enter_hours(turn: _Turn, node: HoursNode) -> str:
    is_open = turn.schedules(node.data.schedule, turn.now) if turn.schedules else None
    if is_open is None:
        turn.emit("hours.unknown_schedule", node.id, schedule=node.data.schedule)
        return "closed"
    return "open" if is_open else "closed"


_ENTER: dict[type[NodeBase], Callable[[_Turn, Any], str | None]] = {
    StartNode: _enter_start, SayNode: _enter_say, CollectNode: _enter_collect,
    DecisionNode: _enter_decision, TransferNode: _enter_transfer,
    SetVariablesNode: _enter_set_variables, HttpRequestNode: _enter_http,
    VoicemailNode: _enter_voicemail, HangupNode: _enter_hangup, HoursNode: _enter_hours,
    **engine_services.ENTER,
}  # fmt: skip


# --- resuming a waiting node with its event --------------------------------------------------------


def _collect_value(node: CollectNode, event: DigitsEntered | SpeechHeard) -> str | None:
    """The value to store, or None when the input fails the node's validation."""
    rules = node.data.validation
    raw = event.digits.strip() if isinstance(event, DigitsEntered) else event.text.strip()
    if not raw:
        return None
    if rules is None:
        return raw
    is_digits = isinstance(event, DigitsEntered)
    if is_digits and rules.min_digits is not None and len(raw) < rules.min_digits:
        return None
    if is_digits and rules.max_digits is not None and len(raw) > rules.max_digits:
        return None
    if rules.allowed_values is not None:
        # Digits must equal an allowed value. Speech matches an allowed value it equals or contains
        # as whole words ("Support, please." -> "support"); the first allowed value in the list wins.
        # The designer's spelling is stored, not the recogniser's.
        if is_digits:
            return raw if raw in rules.allowed_values else None
        heard = f" {conditions.normalise(raw)} "
        for allowed in rules.allowed_values:
            if f" {conditions.normalise(allowed)} " in heard:
                return allowed
        return None
    if rules.pattern is not None:
        subject = raw if is_digits else conditions.normalise(raw)
        if conditions.compile_regex(rules.pattern).fullmatch(subject) is None:
            return None
    return raw


def _resume_collect(turn: _Turn, node: CollectNode, event: InboundEvent) -> str | None:
    d = node.data
    attempt = turn.attempts + 1
    if isinstance(event, NoInput):
        value, kind = None, "noInput"
    elif isinstance(event, DigitsEntered | SpeechHeard):
        turn.caller_acted()
        value, kind = _collect_value(node, event), "noMatch"
        if isinstance(event, DigitsEntered):
            turn.widgets[node.id] = {"Digits": event.digits, "attempt": attempt}
        else:
            turn.widgets[node.id] = {"SpeechResult": event.text, "Confidence": event.confidence,
                                     "attempt": attempt}  # fmt: skip
        if kind == "noMatch" and not (event.digits if isinstance(event, DigitsEntered) else event.text).strip():
            kind = "noInput"
    else:  # pragma: no cover - filtered by _ACCEPTS
        raise UnexpectedEvent(f"collectNode '{node.id}' cannot take {type(event).__name__}")
    if value is not None:
        turn.variables[d.variable] = value
        turn.widgets[node.id] = {**turn.widgets.get(node.id, {}), "value": value}
        turn.emit("input.accepted", node.id, variable=d.variable, attempt=attempt)
        return "success"
    turn.emit("input.rejected", node.id, reason=kind, attempt=attempt)
    if attempt >= d.max_attempts:
        return kind
    turn.attempts = attempt
    lead = (d.no_input_message or DEFAULT_NO_INPUT) if kind == "noInput" else (
        d.no_match_message or DEFAULT_NO_MATCH)  # fmt: skip
    _gather(turn, node, lead)
    raise _Wait("input")


def _resume_transfer(turn: _Turn, node: TransferNode, event: InboundEvent) -> str:
    if isinstance(event, DialEnded):
        turn.widgets[node.id] = {"DialCallStatus": event.status, "DialCallDuration": event.duration}
        outcome = _DIAL_OUTCOMES.get(event.status, "failed")
    elif isinstance(event, DepartmentEnded):
        outcome = event.outcome if event.outcome in DEPARTMENT_OUTCOMES else "failed"
        department = node.data.target.department if isinstance(node.data.target, DepartmentTarget) else ""
        turn.widgets[node.id] = {"outcome": outcome, "waitSeconds": event.wait_seconds, "department": department}
        outcome = _legacy(turn, node, outcome)
    elif isinstance(event, QueueEnded):
        turn.widgets[node.id] = {"QueueResult": event.result, "QueueTime": event.queue_time}
        outcome = _legacy(turn, node, _QUEUE_OUTCOMES.get(event.result, "failed"))
    else:  # pragma: no cover - filtered by _ACCEPTS
        raise UnexpectedEvent(f"transferNode '{node.id}' cannot take {type(event).__name__}")
    turn.emit("transfer.ended", node.id, outcome=outcome)
    return outcome


def _legacy(turn: _Turn, node: TransferNode, outcome: str) -> str:
    """A flow written before department routing handles a queue that gave up with ``noAnswer``."""
    if outcome == "timeout" and turn.flow.next_node(node.id, "timeout") is None \
            and turn.flow.next_node(node.id, "noAnswer") is not None:  # fmt: skip
        return "noAnswer"
    return outcome


def _resume_http(turn: _Turn, node: HttpRequestNode, event: InboundEvent) -> str:
    assert isinstance(event, HttpCompleted)
    body = event.body[:MAX_HTTP_BODY]
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = None
    ok = event.error is None and 200 <= event.status_code < 300
    # The call's state is stored with every turn (Firestore: 1 MiB per document), so a JSON answer is
    # kept once, parsed; the raw text is kept only when it is not JSON.
    turn.widgets[node.id] = {"status_code": event.status_code, "body": "" if parsed is not None else body,
                             "parsed": parsed, "error": event.error}  # fmt: skip
    if ok and node.data.save_as:
        turn.variables[node.data.save_as] = parsed if parsed is not None else body
    turn.emit("http.completed", node.id, status_code=event.status_code, ok=ok)
    return "success" if ok else "failed"


def _resume_voicemail(turn: _Turn, node: VoicemailNode, event: InboundEvent) -> str:
    assert isinstance(event, RecordingEnded)
    recorded = bool(event.url) and event.duration > 0
    if recorded:
        turn.caller_acted()
    turn.widgets[node.id] = {"RecordingUrl": event.url or "", "RecordingDuration": event.duration,
                             "RecordingSid": event.recording_sid or ""}  # fmt: skip
    turn.emit("recording.ended", node.id, duration=event.duration, recorded=recorded)
    return "recorded" if recorded else "noAudio"


_RESUME: dict[type[NodeBase], Callable[[_Turn, Any, InboundEvent], str | None]] = {
    CollectNode: _resume_collect, TransferNode: _resume_transfer,
    HttpRequestNode: _resume_http, VoicemailNode: _resume_voicemail,
    **engine_services.RESUME,
}  # fmt: skip

_ACCEPTS: dict[Waiting, tuple[type, ...]] = {
    "input": (DigitsEntered, SpeechHeard, NoInput), "dial": (DialEnded,), "queue": (DepartmentEnded, QueueEnded),
    "record": (RecordingEnded,), "http": (HttpCompleted,), "redirect": (RedirectEnded, HttpCompleted),
}  # fmt: skip


# --- the step function -----------------------------------------------------------------------------


def start_state(flow: CompiledFlow, version: str, event: CallStarted, now: datetime) -> CallState:
    sid = event.params.get("CallSid", "")
    if not sid:
        raise EngineError("CallStarted needs a 'CallSid' parameter")
    return CallState(call_sid=sid, flow_id=flow.flow.id, flow_version=version,
                     variables=dict(flow.flow.settings.variables), trigger=dict(event.params),
                     started_at=now.isoformat())  # fmt: skip


def step(flow: CompiledFlow, state: CallState | None, event: InboundEvent, now: datetime,
         schedules: ScheduleLookup | None = None, version: str = "draft",
         departments: DepartmentLookup | None = None) -> StepResult:  # fmt: skip
    """Advance the call by one turn. Pure: same arguments (and lookup answers), same result."""
    if isinstance(event, CallStarted):
        if state is not None:
            raise UnexpectedEvent(f"call {state.call_sid} has already started")
        state = start_state(flow, version, event, now)
        turn = _Turn(flow, state, now, schedules, departments)
        turn.emit("call.started", None, **{k: event.params.get(k, "") for k in ("From", "To")})
        turn.run_from(flow.start_id)
        return StepResult(tuple(turn.actions), turn.freeze(state), tuple(turn.events))
    if state is None:
        raise UnexpectedEvent(f"{type(event).__name__} arrived for a call that has not started")
    if state.status != "active" or state.waiting is None or state.cursor is None:
        raise UnexpectedEvent(f"call {state.call_sid} has ended; it takes no {type(event).__name__}")
    if not isinstance(event, _ACCEPTS[state.waiting]):
        raise UnexpectedEvent(
            f"call {state.call_sid} waits for {state.waiting} at node '{state.cursor}', "
            f"not for {type(event).__name__}"
        )
    node = flow.nodes.get(state.cursor)
    if node is None:
        raise EngineError(f"call {state.call_sid} is at node '{state.cursor}', which this flow lacks")
    turn = _Turn(flow, state, now, schedules, departments)
    try:
        outcome = _RESUME[type(node)](turn, node, event)
    except _Wait as wait:
        turn.waiting = wait.kind
    else:
        if outcome is not None:
            turn.follow(node, outcome)
    return StepResult(tuple(turn.actions), turn.freeze(state), tuple(turn.events))


def schedule_lookup_from(table: Mapping[str, Callable[[datetime], bool]]) -> ScheduleLookup:
    """Adapt a name -> is_open(at) table to the engine's lookup signature."""

    def lookup(name: str, at: datetime) -> bool | None:
        check = table.get(name)
        return None if check is None else check(at)

    return lookup
