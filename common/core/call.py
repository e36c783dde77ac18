"""What flows in and out of the engine for one call.

    inbound events  (what happened on the call)   -> engine.step -> actions (what the call does next)
                                                                  -> FlowEvents (what to record)
                                                                  -> CallState (where the call is)

Rules owned here:
- ``CallState`` is the whole memory of a call between two webhooks; it is JSON-serialisable as is
  (``model_dump(mode="json")``) and is what the store persists. ``seq`` counts the TwiML documents
  issued for the call: the action URLs of document ``seq`` carry ``seq + 1``, which is how a duplicate
  or stale webhook is told apart from the next turn.
- ``waiting`` names the one kind of event the call can accept next. Any other event is refused by
  the engine (``UnexpectedEvent``) and the state is left untouched.
- ``department_wait`` is the host's note of the routing entry a call waiting on "queue" holds in
  (department, entry id, arrival): the host sets it when the caller joins; every turn of the engine
  clears it, because a new turn means the call has left that wait.
- Events and actions are plain frozen dataclasses: they are built on every step and never persisted
  as models, so they stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Waiting = Literal["input", "dial", "queue", "record", "http", "redirect"]


class CallState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    call_sid: str
    flow_id: str
    flow_version: str
    seq: int = 0
    status: Literal["active", "ended"] = "active"
    cursor: str | None = None
    waiting: Waiting | None = None
    attempts: int = 0
    variables: dict[str, Any] = Field(default_factory=dict)
    widgets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    trigger: dict[str, str] = Field(default_factory=dict)
    path: list[str] = Field(default_factory=list)
    steps: int = 0
    streak: dict[str, int] = Field(default_factory=dict)
    end_reason: str | None = None
    started_at: str = ""
    department_wait: dict[str, str] | None = None  # {"department", "entry", "arrivedAt"}: set by the host


# --- inbound events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    """Twilio's incoming-call parameters (From, To, CallSid, AccountSid, Direction, ...)."""

    params: dict[str, str]
    kind: Literal["started"] = "started"


@dataclass(frozen=True, slots=True)
class DigitsEntered:
    digits: str
    kind: Literal["input"] = "input"


@dataclass(frozen=True, slots=True)
class SpeechHeard:
    text: str
    confidence: float | None = None
    kind: Literal["input"] = "input"


@dataclass(frozen=True, slots=True)
class NoInput:
    """The caller said and pressed nothing before the Gather timed out."""

    kind: Literal["input"] = "input"


@dataclass(frozen=True, slots=True)
class DialEnded:
    status: str  # Twilio DialCallStatus: completed, answered, busy, no-answer, failed, canceled
    duration: int = 0
    kind: Literal["dial"] = "dial"


@dataclass(frozen=True, slots=True)
class DepartmentEnded:
    """Department routing is done with the caller: ``outcome`` is the transfer node's (completed,
    timeout, callbackRequested, voicemail, closed, noAgents, busy, failed); ``wait_seconds`` is the
    time from joining the queue to an agent answering, or to leaving it."""

    outcome: str
    wait_seconds: int = 0
    kind: Literal["queue"] = "queue"


@dataclass(frozen=True, slots=True)
class QueueEnded:
    """A Twilio <Enqueue> ended: what a host without department routing answers a transfer with,
    and what calls that were waiting in a Twilio queue before routing existed still send."""

    result: str  # Twilio QueueResult: bridged, leave, hangup, redirected, queue-full, error, system-error
    queue_time: int = 0
    kind: Literal["queue"] = "queue"


@dataclass(frozen=True, slots=True)
class HttpCompleted:
    status_code: int  # 0 when no response arrived
    body: str = ""
    error: str | None = None
    kind: Literal["http"] = "http"


@dataclass(frozen=True, slots=True)
class RecordingEnded:
    url: str | None
    duration: int = 0
    digits: str | None = None
    recording_sid: str | None = None
    kind: Literal["record"] = "record"


@dataclass(frozen=True, slots=True)
class RedirectEnded:
    """Other TwiML a redirect node handed the call to is done with it: ``return`` (it redirected the
    call back to the URL it was given, with ``params``: the request's parameters), ``timeout`` or
    ``failed`` (the call never came back)."""

    outcome: str
    params: dict[str, str] = field(default_factory=dict)
    kind: Literal["redirect"] = "redirect"


InboundEvent = (
    CallStarted | DigitsEntered | SpeechHeard | NoInput | DialEnded | DepartmentEnded | QueueEnded
    | HttpCompleted | RecordingEnded | RedirectEnded
)  # fmt: skip


# --- actions ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    voice: str | None = None
    language: str | None = None
    loop: int = 1


@dataclass(frozen=True, slots=True)
class Play:
    url: str
    loop: int = 1


@dataclass(frozen=True, slots=True)
class Gather:
    input: str
    timeout: int
    prompts: tuple[Say | Play, ...]
    num_digits: int | None = None
    finish_on_key: str = "#"
    speech_timeout: str | None = None
    speech_model: str | None = None
    hints: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Dial:
    numbers: tuple[str, ...] = ()
    sip: str | None = None
    client: str | None = None
    caller_id: str | None = None
    timeout: int = 30
    record: bool = False


@dataclass(frozen=True, slots=True)
class TransferToDepartment:
    """Put the caller in a department's queue. ``priority`` is 0-999 (higher first), already rendered
    and parsed; ``context`` maps names to rendered text (for the agent's whisper and the entry);
    ``max_wait_seconds`` caps the wait below the department's own maximum (None: the department's)."""

    department: str
    priority: int
    context: dict[str, str] = field(default_factory=dict)
    max_wait_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Record:
    max_length: int
    finish_on_key: str
    play_beep: bool
    transcribe: bool
    timeout: int


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """Performed by the host (never by the engine), which answers with ``HttpCompleted``."""

    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    content_type: str
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class TwilioRequest:
    """A request to the Twilio REST API of the account that owns the call, performed by the host with
    that account's credentials (never by the engine), which answers with ``HttpCompleted``.

    ``path`` is relative to ``/2010-04-01/Accounts/{AccountSid}/`` (``Messages.json``,
    ``Calls/{CallSid}/Recordings.json``); ``params`` are its form parameters, in order (a name may
    repeat: ``MediaUrl``). ``purpose`` names it for logs and the simulator (``message``,
    ``recording``)."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    purpose: str
    timeout_seconds: float = 3.0

    def form(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in self.params:
            out.setdefault(name, []).append(value)
        return out


@dataclass(frozen=True, slots=True)
class Redirect:
    """Hand the call to the TwiML at ``url``; it returns the call by redirecting to the URL it gets
    as the ``ReturnUrl`` parameter (the host's next step URL)."""

    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Action = Say | Play | Gather | Dial | TransferToDepartment | Record | HttpRequest | TwilioRequest | Redirect | Hangup


@dataclass(frozen=True, slots=True)
class FlowEvent:
    """Something worth recording about the call (analytics, billing, debugging)."""

    type: str
    seq: int
    at: str
    node_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepResult:
    actions: tuple[Action, ...]
    state: CallState
    events: tuple[FlowEvent, ...]
