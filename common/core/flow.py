"""The flow format: what a FlowDesigner exports, as typed, frozen models.

A flow is a React-Flow document: ``{"id", "name", "nodes": [...], "edges": [...]}``. Each node is
``{"id", "type", "position", "data"}``; ``type`` selects the member of one discriminated union, so
validation goes straight to the right model and its errors name the path. Each edge is
``{"id", "source", "target", "sourceHandle"}``; the ``sourceHandle`` names the *outcome* it follows
(a collect's ``noInput``, a decision rule's id). Nodes with a single outcome (``next``) accept a
missing handle.

Rules owned here:
- Models are frozen and refuse unknown fields inside ``data``: a typo in the designer must surface as
  an error, not be silently ignored. The React-Flow envelope may carry its own UI fields (width,
  selected, ...); those are accepted and ignored because the designer writes them, not a person.
- Text fields that reach the caller are Liquid templates (see ``templating``); their syntax is
  checked by ``validation``, not here, so that one report lists every problem.
- Each node type declares its outcomes. ``validation`` checks edges against them; the engine follows
  them.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
    model_validator,
)  # fmt: skip
from pydantic.alias_generators import to_camel

NODE_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"

NodeId = Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
E164 = Annotated[str, StringConstraints(pattern=E164_PATTERN)]
# Twilio limits: Say text 4096 characters; we keep templates to that size before rendering too.
SpokenText = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)]
Voice = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
Key = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "#", "*", ""]

NEXT = "next"


class Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel
    )


class NodeData(Model):
    label: str | None = None
    description: str | None = None


class Speech(Model):
    """How text is spoken; node values override the flow's settings."""

    voice: Voice | None = None
    language: Language | None = None


# --- node data -------------------------------------------------------------------------------------


class StartData(NodeData):
    pass


class SayData(NodeData):
    text: SpokenText | None = None
    audio_url: Url | None = None
    voice: Voice | None = None
    language: Language | None = None
    loop: int = Field(1, ge=1, le=10)

    @model_validator(mode="after")
    def _one_source(self) -> SayData:
        if (self.text is None) == (self.audio_url is None):
            raise ValueError("give exactly one of 'text' or 'audioUrl'")
        return self


class CollectValidation(Model):
    pattern: str | None = Field(None, max_length=512)
    allowed_values: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] | None = None
    min_digits: int | None = Field(None, ge=1, le=64)
    max_digits: int | None = Field(None, ge=1, le=64)

    @model_validator(mode="after")
    def _digit_bounds(self) -> CollectValidation:
        if self.min_digits and self.max_digits and self.min_digits > self.max_digits:
            raise ValueError(f"minDigits ({self.min_digits}) is more than maxDigits ({self.max_digits}); "
                             "lower minDigits or raise maxDigits")
        return self


class CollectData(NodeData):
    variable: Identifier
    prompt: SpokenText | None = None
    prompt_audio_url: Url | None = None
    input_type: Literal["dtmf", "speech", "dtmf speech"] = "dtmf"
    num_digits: int | None = Field(None, ge=1, le=64)
    finish_on_key: Key = "#"
    timeout: int = Field(5, ge=1, le=60)
    speech_timeout: Literal["auto"] | Annotated[int, Field(ge=1, le=60)] = "auto"
    speech_model: str | None = Field(None, max_length=64)
    hints: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=500
    )
    voice: Voice | None = None
    language: Language | None = None
    validation: CollectValidation | None = None
    no_input_message: SpokenText | None = None
    no_match_message: SpokenText | None = None
    max_attempts: int = Field(3, ge=1, le=10)
    #: listen without saying anything (a Studio gather with nothing to say); a prompt is required otherwise,
    #: so that a designer who forgot it hears about it
    silent: bool = False

    @model_validator(mode="after")
    def _has_prompt(self) -> CollectData:
        if self.prompt is None and self.prompt_audio_url is None and not self.silent:
            raise ValueError("give a 'prompt' (text) or a 'promptAudioUrl', or set 'silent': true to listen "
                             "without one")  # fmt: skip
        return self


Operator = Literal[
    "equal_to", "not_equal_to", "matches_any_of", "does_not_match_any_of", "is_blank", "is_not_blank",
    "regex", "contains", "does_not_contain", "starts_with", "does_not_start_with", "less_than",
    "greater_than", "is_before_time", "is_after_time", "is_before_date", "is_after_date",
]  # fmt: skip
RuleValue = str | int | float | list[str] | None


class DecisionRule(Model):
    id: Annotated[str, StringConstraints(pattern=NODE_ID_PATTERN)]
    operator: Operator
    value: RuleValue = None
    input: Annotated[str, StringConstraints(max_length=1024)] | None = None
    label: str | None = None


class DecisionData(NodeData):
    input: Annotated[str, StringConstraints(max_length=1024)]
    rules: list[DecisionRule] = Field(min_length=1, max_length=100)


PRIORITY_NAMES = {"high": 100, "normal": 50, "low": 10}
MAX_PRIORITY = 999
PRIORITY_FORMS = "high, normal, low, a whole number 0 to 999, or a template that renders to one of those"


def parse_priority(value: int | str) -> int | None:
    """A rendered priority as a number 0-999 (higher first); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_PRIORITY else None
    text = value.strip().lower()
    if text in PRIORITY_NAMES:
        return PRIORITY_NAMES[text]
    if text.isascii() and text.isdigit() and len(text) <= 3:
        return int(text)
    return None


class DepartmentTarget(Model):
    """A department's queue (department routing): who waits first is decided by ``priority``."""

    type: Literal["department"]
    department: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,48}$")]
    #: high | normal | low, 0-999, or a template rendered per call (a bad rendering means normal)
    priority: int | Annotated[str, StringConstraints(min_length=1, max_length=1024)] = "normal"
    context: dict[Identifier, Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=dict
    )
    max_wait_seconds: int | None = Field(None, ge=30, le=86_400)

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return value  # rendered per call; the engine parses what it renders
        if isinstance(value, int | str) and parse_priority(value) is not None:
            return value
        if value is None or isinstance(value, bool):
            found = {None: "null", True: "true", False: "false"}[value]
        elif isinstance(value, str | int | float):
            found = repr(value) if isinstance(value, str) else str(value)
        else:
            found = "a list" if isinstance(value, list) else "an object"
        raise ValueError(f"priority is {found}; use {PRIORITY_FORMS}")


SIP_PATTERN = r"^sips?:\S+@\S+$"
CLIENT_PATTERN = r"^[A-Za-z0-9_.@-]{1,121}$"
_STAND_IN_NUMBER = "+10000000000"  # a templated number is checked per call; the list's rules apply now


def _either(pattern: str, max_length: int | None = None) -> WithJsonSchema:
    """The JSON Schema of a field that takes ``pattern`` or a template (checked when a call renders it)."""
    plain: dict[str, Any] = {"type": "string", "pattern": pattern, **({"maxLength": max_length} if max_length else {})}
    return WithJsonSchema({"anyOf": [plain, {"type": "string", "pattern": r"\{\{|\{%", "maxLength": 1024}]})


def is_template_text(value: Any) -> bool:
    """A text (at most 1,024 characters) with Liquid markup: rendered per call, its form checked then."""
    return isinstance(value, str) and len(value) <= 1024 and ("{{" in value or "{%" in value)


def _template_or(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    return value if is_template_text(value) else handler(value)


class NumberTarget(Model):
    """Numbers to ring at once: E.164 numbers, or templates that render to one (checked per call)."""

    type: Literal["number"]
    numbers: list[Annotated[E164, _either(E164_PATTERN)]] = Field(min_length=1, max_length=10)

    @field_validator("numbers", mode="wrap")
    @classmethod
    def _templated(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(value, list):
            return handler(value)
        templated = {i: item for i, item in enumerate(value) if is_template_text(item)}
        checked = handler([_STAND_IN_NUMBER if i in templated else item for i, item in enumerate(value)])
        return [templated.get(i, item) for i, item in enumerate(checked)]


class SipTarget(Model):
    type: Literal["sip"]
    uri: Annotated[str, StringConstraints(pattern=SIP_PATTERN, max_length=512), _either(SIP_PATTERN, 512)]

    _templated = field_validator("uri", mode="wrap")(_template_or)


class ClientTarget(Model):
    type: Literal["client"]
    identity: Annotated[str, StringConstraints(pattern=CLIENT_PATTERN), _either(CLIENT_PATTERN)]

    _templated = field_validator("identity", mode="wrap")(_template_or)


TransferTarget = Annotated[
    DepartmentTarget | NumberTarget | SipTarget | ClientTarget, Field(discriminator="type")
]


class TransferData(NodeData):
    target: TransferTarget
    message: SpokenText | None = None
    caller_id: Annotated[E164, _either(E164_PATTERN)] | None = None
    timeout: int = Field(30, ge=5, le=600)
    record: bool = False
    voice: Voice | None = None
    language: Language | None = None

    _templated = field_validator("caller_id", mode="wrap")(_template_or)


class Assignment(Model):
    name: Identifier
    value: Annotated[str, StringConstraints(max_length=4096)]


class SetVariablesData(NodeData):
    variables: list[Assignment] = Field(min_length=1, max_length=100)


class HttpRequestData(NodeData):
    method: Literal["GET", "POST"] = "GET"
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    content_type: Literal["application/json", "application/x-www-form-urlencoded"] = "application/json"
    body: Annotated[str, StringConstraints(max_length=16384)] | None = None
    parameters: list[Assignment] = Field(default_factory=list, max_length=100)
    headers: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")], str] = Field(
        default_factory=dict
    )
    timeout_seconds: float = Field(3.0, ge=0.5, le=5.0)
    save_as: Identifier | None = None


class VoicemailData(NodeData):
    prompt: SpokenText | None = None
    max_length: int = Field(120, ge=1, le=3600)
    finish_on_key: Key = "#"
    play_beep: bool = True
    transcribe: bool = False
    timeout: int = Field(5, ge=1, le=60)
    voice: Voice | None = None
    language: Language | None = None


class MessageData(NodeData):
    """An SMS (or MMS) sent through the account's Twilio REST API while the call goes on."""

    body: Annotated[str, StringConstraints(min_length=1, max_length=1600)]
    to: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = "{{trigger.call.From}}"
    from_: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = Field("{{trigger.call.To}}",
                                                                                   alias="from")
    media_url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None


class RedirectData(NodeData):
    """Hands the call to other TwiML at ``url``; that TwiML returns the call with a <Redirect> to the
    URL it receives as the ``ReturnUrl`` parameter."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    method: Literal["GET", "POST"] = "POST"
    timeout: int = Field(14_400, ge=1, le=14_400)


class RecordCallData(NodeData):
    """Starts (or stops) recording the whole call through the account's Twilio REST API."""

    action: Literal["start", "stop"] = "start"
    channels: Literal["mono", "dual"] = "mono"
    trim: bool = False


class HangupData(NodeData):
    message: SpokenText | None = None
    voice: Voice | None = None
    language: Language | None = None


class HoursData(NodeData):
    schedule: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")]


# --- nodes -----------------------------------------------------------------------------------------


class Position(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    x: float = 0.0
    y: float = 0.0


class NodeBase(BaseModel):
    """The React-Flow envelope. UI fields written by the designer are accepted and ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: NodeId
    position: Position = Position()
    width: float | None = None
    height: float | None = None
    selected: bool | None = None
    dragging: bool | None = None
    position_absolute: Position | None = Field(None, alias="positionAbsolute")
    measured: dict[str, Any] | None = None
    style: dict[str, Any] | None = None
    class_name: str | None = Field(None, alias="className")
    z_index: int | None = Field(None, alias="zIndex")
    hidden: bool | None = None
    draggable: bool | None = None
    selectable: bool | None = None
    deletable: bool | None = None
    parent_id: str | None = Field(None, alias="parentId")
    source_position: str | None = Field(None, alias="sourcePosition")
    target_position: str | None = Field(None, alias="targetPosition")
    extent: Any = None
    expand_parent: bool | None = Field(None, alias="expandParent")
    connectable: bool | None = None
    focusable: bool | None = None
    aria_label: str | None = Field(None, alias="ariaLabel")
    origin: Any = None
    handles: Any = None
    initial_width: float | None = Field(None, alias="initialWidth")
    initial_height: float | None = Field(None, alias="initialHeight")

    #: Outcome handles this node type can follow; overridden per type.
    OUTCOMES: ClassVar[tuple[str, ...]] = ()
    #: True when the node stops and waits for the caller or the network.
    WAITS: ClassVar[bool] = False

    def outcomes(self) -> tuple[str, ...]:
        return self.OUTCOMES


class StartNode(NodeBase):
    type: Literal["startNode"]
    data: StartData = StartData()
    OUTCOMES = (NEXT,)


class SayNode(NodeBase):
    type: Literal["sayNode"]
    data: SayData
    OUTCOMES = (NEXT,)


class CollectNode(NodeBase):
    type: Literal["collectNode"]
    data: CollectData
    OUTCOMES = ("success", "noInput", "noMatch")
    WAITS = True


class DecisionNode(NodeBase):
    type: Literal["decisionNode"]
    data: DecisionData

    def outcomes(self) -> tuple[str, ...]:
        return (*(rule.id for rule in self.data.rules), "default")


#: how a transfer to a number, SIP URI or client ends (from Twilio's DialCallStatus)
DIAL_OUTCOMES = ("completed", "noAnswer", "busy", "failed")
#: how a transfer to a department ends: talked to an agent; waited past the maximum; asked to be
#: called back; chose to leave a message; the department is closed; nobody is logged in (its
#: join-when-empty rule); its queue is full; routing could not take the call
DEPARTMENT_OUTCOMES = ("completed", "timeout", "callbackRequested", "voicemail", "closed", "noAgents", "busy",
                       "failed")  # fmt: skip
#: accepted on a department transfer's edges for flows written before department routing: a call that
#: times out follows ``noAnswer`` when the node has no ``timeout`` edge
LEGACY_DEPARTMENT_OUTCOMES = ("noAnswer",)


class TransferNode(NodeBase):
    type: Literal["transferNode"]
    data: TransferData
    OUTCOMES = DIAL_OUTCOMES
    WAITS = True

    def outcomes(self) -> tuple[str, ...]:
        if isinstance(self.data.target, DepartmentTarget):
            return (*DEPARTMENT_OUTCOMES, *LEGACY_DEPARTMENT_OUTCOMES)
        return DIAL_OUTCOMES


class SetVariablesNode(NodeBase):
    type: Literal["setVariablesNode"]
    data: SetVariablesData
    OUTCOMES = (NEXT,)


class HttpRequestNode(NodeBase):
    type: Literal["httpRequestNode"]
    data: HttpRequestData
    OUTCOMES = ("success", "failed")
    WAITS = True


class VoicemailNode(NodeBase):
    type: Literal["voicemailNode"]
    data: VoicemailData
    OUTCOMES = ("recorded", "noAudio")
    WAITS = True


class HangupNode(NodeBase):
    type: Literal["hangupNode"]
    data: HangupData = HangupData()
    OUTCOMES = ()


class HoursNode(NodeBase):
    type: Literal["hoursNode"]
    data: HoursData
    OUTCOMES = ("open", "closed")


class MessageNode(NodeBase):
    type: Literal["messageNode"]
    data: MessageData
    OUTCOMES = ("sent", "failed")
    WAITS = True


class RedirectNode(NodeBase):
    type: Literal["redirectNode"]
    data: RedirectData
    OUTCOMES = ("return", "timeout", "failed")
    WAITS = True


class RecordCallNode(NodeBase):
    type: Literal["recordCallNode"]
    data: RecordCallData = RecordCallData()
    OUTCOMES = ("success", "failed")
    WAITS = True


Node = Annotated[
    StartNode | SayNode | CollectNode | DecisionNode | TransferNode | SetVariablesNode
    | HttpRequestNode | VoicemailNode | HangupNode | HoursNode | MessageNode | RedirectNode | RecordCallNode,
    Field(discriminator="type"),
]  # fmt: skip

NODE_TYPES: dict[str, type[NodeBase]] = {
    "startNode": StartNode, "sayNode": SayNode, "collectNode": CollectNode,
    "decisionNode": DecisionNode, "transferNode": TransferNode,
    "setVariablesNode": SetVariablesNode, "httpRequestNode": HttpRequestNode,
    "voicemailNode": VoicemailNode, "hangupNode": HangupNode, "hoursNode": HoursNode,
    "messageNode": MessageNode, "redirectNode": RedirectNode, "recordCallNode": RecordCallNode,
}  # fmt: skip


class Edge(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    source: str
    target: str
    source_handle: str | None = Field(None, alias="sourceHandle")
    target_handle: str | None = Field(None, alias="targetHandle")
    label: Any = None
    type: str | None = None
    animated: bool | None = None
    style: dict[str, Any] | None = None
    marker_end: Any = Field(None, alias="markerEnd")
    marker_start: Any = Field(None, alias="markerStart")
    selected: bool | None = None
    hidden: bool | None = None
    data: dict[str, Any] | None = None
    z_index: int | None = Field(None, alias="zIndex")
    class_name: str | None = Field(None, alias="className")
    interaction_width: float | None = Field(None, alias="interactionWidth")
    focusable: bool | None = None
    deletable: bool | None = None
    selectable: bool | None = None
    reconnectable: Any = None
    aria_label: str | None = Field(None, alias="ariaLabel")
    label_style: Any = Field(None, alias="labelStyle")
    label_show_bg: bool | None = Field(None, alias="labelShowBg")
    label_bg_style: Any = Field(None, alias="labelBgStyle")
    label_bg_padding: Any = Field(None, alias="labelBgPadding")
    label_bg_border_radius: float | None = Field(None, alias="labelBgBorderRadius")
    path_options: Any = Field(None, alias="pathOptions")

    @property
    def outcome(self) -> str:
        return self.source_handle or NEXT


class FlowSettings(Model):
    voice: Voice | None = None
    language: Language = "en-US"
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "UTC"
    goodbye_message: SpokenText = "Thank you for calling. Goodbye."
    error_message: SpokenText = "Sorry, we are having trouble right now. Please call again later. Goodbye."
    variables: dict[Identifier, str | int | float | bool] = Field(default_factory=dict)


class Flow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: str | None = None
    nodes: list[Node]
    edges: list[Edge] = Field(default_factory=list)
    settings: FlowSettings = FlowSettings()
    viewport: dict[str, Any] | None = None


class CompiledFlow:
    """A validated flow indexed for the engine: node by id, outcome -> next node, the start node.

    Built only by ``validation.compile_flow`` (which guarantees the indexes are consistent), then
    shared read-only between calls; immutable versions are cached per process by the service layer.
    """

    __slots__ = ("_next", "flow", "nodes", "start_id")

    def __init__(self, flow: Flow, start_id: str) -> None:
        self.flow = flow
        self.nodes: dict[str, NodeBase] = {node.id: node for node in flow.nodes}
        self.start_id = start_id
        self._next: dict[tuple[str, str], str] = {
            (edge.source, edge.outcome): edge.target for edge in flow.edges
        }

    def next_node(self, node_id: str, outcome: str) -> str | None:
        return self._next.get((node_id, outcome))
