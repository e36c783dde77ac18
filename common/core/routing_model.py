"""Department and agent settings: what an administrator configures, as typed, frozen models.

    DepartmentSettings   name, schedule, strategy, ring timeout, wrap-up, queue limits, join rule,
                         hold experience, callback attempts, escalation ladder, linear order
    AgentSettings        name, contact (E.164 number | sip:user@host | client:identity), memberships
    RoutingError         the one error type of routing; ``field`` names where (``escalation[2].department``)
    └── IllegalTransition  an agent status change the transition table does not allow

Rules owned here:
- Models refuse unknown fields and validate their own values; JSON uses camelCase (``ringTimeoutSeconds``),
  storage uses the field names (``model_dump(mode="json")``), and both are accepted on input.
- Rules that need more than one model (a ladder naming a department the tenant lacks, overflow loops)
  live in ``routing.check_ladders``; this module only checks what one document can know.
- Priorities are 0-999, higher first; the names ``high``/``normal``/``low`` are 100/50/10 (``priority``).
- A contact is normalised once here; its kind (number, sip, client) decides how it is dialled.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

from common.core.errors import IvrError

DEPARTMENT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,48}$"
AGENT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
SIP_PATTERN = r"^sips?:[A-Za-z0-9_.!~*'()&=+$,;?/%-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?(;[^\s<>]*)?$"
CLIENT_PATTERN = r"^client:[A-Za-z0-9_.@-]{1,121}$"

PRIORITY_NAMES = {"high": 100, "normal": 50, "low": 10}
MAX_PRIORITY = 999
MAX_LADDER_STEPS = 20
MAX_MEMBERSHIPS = 50

DepartmentId = Annotated[str, StringConstraints(pattern=DEPARTMENT_ID_PATTERN)]
AgentId = Annotated[str, StringConstraints(pattern=AGENT_ID_PATTERN)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)]
E164 = Annotated[str, StringConstraints(pattern=E164_PATTERN)]

Strategy = Literal["longestIdle", "roundRobin", "fewestCalls", "leastTalkTime", "ringAll", "random", "linear"]
#: When may a caller join: always; only while an agent is logged in (not offline) ; only while one is free.
JoinRule = Literal["always", "staffed", "available"]
AgentStatus = Literal["available", "offered", "busy", "wrap-up", "away", "offline"]
LadderAction = Literal["raisePriority", "overflow", "offerCallback", "voicemail", "timeout"]
ContactKind = Literal["number", "sip", "client"]


class RoutingError(IvrError):
    """A routing request or setting that cannot be honoured; ``field`` is the path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


class IllegalTransition(RoutingError):
    """An agent status change not in the table; ``allowed`` lists what ``current`` may become."""

    def __init__(self, current: str, requested: str, allowed: tuple[str, ...], by: str) -> None:
        listed = ", ".join(allowed) or "nothing"
        super().__init__("status", f"{by} cannot move an agent from {current} to {requested}; allowed: {listed}")
        self.current, self.requested, self.allowed = current, requested, allowed


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel)


def priority(value: int | str) -> int:
    """``high``/``normal``/``low`` or an integer 0-999 (a templated value arrives as a string)."""
    if isinstance(value, bool):
        raise RoutingError("priority", "must be high, normal, low or an integer 0-999, not a boolean")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in PRIORITY_NAMES:
            return PRIORITY_NAMES[text]
        if not re.fullmatch(r"[0-9]{1,3}", text):
            raise RoutingError("priority", f"{value!r} is not high, normal, low or an integer 0-999")
        value = int(text)
    if not 0 <= value <= MAX_PRIORITY:
        raise RoutingError("priority", f"{value} is out of range 0-999")
    return value


def contact_kind(contact: str) -> ContactKind:
    """How a (normalised) contact is dialled; RoutingError names what a valid one looks like."""
    if re.fullmatch(E164_PATTERN, contact):
        return "number"
    if re.fullmatch(SIP_PATTERN, contact, flags=re.IGNORECASE):
        return "sip"
    if re.fullmatch(CLIENT_PATTERN, contact):
        return "client"
    raise RoutingError("contact", f"{contact!r} is not an E.164 number (+15551234567), a SIP URI "
                                  "(sip:user@host) or a Twilio Client identity (client:name)")  # fmt: skip


def normalise_contact(contact: str) -> str:
    """Strip spaces, dashes, dots and brackets from phone numbers; lower-case the SIP scheme."""
    text = contact.strip()
    if text[:1] == "+" or text[:1].isdigit() or text[:1] == "(":
        text = re.sub(r"[\s().-]", "", text)
    elif text.lower().startswith(("sip:", "sips:")):
        scheme, _, rest = text.partition(":")
        text = f"{scheme.lower()}:{rest}"
    contact_kind(text)
    return text


class LadderStep(Model):
    """After ``after_seconds`` waiting in the department, do ``action``."""

    after_seconds: int = Field(ge=1, le=86_400)
    action: LadderAction
    to: int | None = Field(None, ge=0, le=MAX_PRIORITY)  # raisePriority: the new priority (never lowers)
    by: int | None = Field(None, ge=1, le=MAX_PRIORITY)  # raisePriority: added, capped at 999
    department: DepartmentId | None = None  # overflow: where to

    @model_validator(mode="after")
    def _arguments(self) -> LadderStep:
        if self.action == "raisePriority" and (self.to is None) == (self.by is None):
            raise ValueError("raisePriority takes exactly one of 'to' or 'by'")
        if self.action != "raisePriority" and (self.to is not None or self.by is not None):
            raise ValueError(f"'to' and 'by' belong to raisePriority, not {self.action}")
        if self.action == "overflow" and self.department is None:
            raise ValueError("overflow needs 'department'")
        if self.action != "overflow" and self.department is not None:
            raise ValueError(f"'department' belongs to overflow, not {self.action}")
        return self


class EscapeMenu(Model):
    """Keys the caller may press while holding: 1 asks for a callback, 2 leaves a voicemail."""

    callback: bool = False
    voicemail: bool = False


class HoldSettings(Model):
    music_url: Url | None = None  # None: the deployment's default hold music
    announce_every_seconds: int = Field(60, ge=0, le=3600)  # 0: never announce
    announce_position: bool = True
    announce_wait: bool = True
    escape_menu: EscapeMenu = EscapeMenu()
    voice: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None = None

    @field_validator("announce_every_seconds")
    @classmethod
    def _not_too_often(cls, value: int) -> int:
        if 0 < value < 15:
            raise ValueError("announcements more often than every 15 seconds drown the music; use 0 or 15-3600")
        return value


class CallbackSettings(Model):
    attempts: int = Field(3, ge=1, le=10)
    retry_delay_seconds: int = Field(300, ge=30, le=86_400)
    caller_id: E164 | None = None  # None: the number the customer called


class DepartmentSettings(Model):
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    schedule: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    strategy: Strategy = "longestIdle"
    ring_timeout_seconds: int = Field(20, ge=5, le=120)
    wrap_up_seconds: int = Field(30, ge=0, le=3600)
    max_queue_size: int = Field(100, ge=1, le=5000)
    max_wait_seconds: int = Field(1800, ge=30, le=86_400)
    join_when_empty: JoinRule = "staffed"
    autopause_after: int = Field(3, ge=0, le=20)  # missed offers in a row before away; 0: never
    service_level_seconds: int = Field(30, ge=1, le=3600)
    hold: HoldSettings = HoldSettings()
    callback: CallbackSettings = CallbackSettings()
    escalation: tuple[LadderStep, ...] = Field((), max_length=MAX_LADDER_STEPS)
    agent_order: tuple[AgentId, ...] = Field((), max_length=500)  # the order ``linear`` offers agents in

    @field_validator("escalation")
    @classmethod
    def _ordered(cls, steps: tuple[LadderStep, ...]) -> tuple[LadderStep, ...]:
        for i in range(1, len(steps)):
            if steps[i].after_seconds < steps[i - 1].after_seconds:
                raise ValueError(f"step {i} fires at {steps[i].after_seconds} s, before step {i - 1} "
                                 f"({steps[i - 1].after_seconds} s); order the ladder by afterSeconds")  # fmt: skip
        return steps


class Membership(Model):
    department: DepartmentId
    tier: int = Field(1, ge=1, le=9)  # lower tiers are offered calls first


class AgentSettings(Model):
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    contact: Annotated[str, StringConstraints(min_length=2, max_length=512)]
    departments: tuple[Membership, ...] = Field(min_length=1, max_length=MAX_MEMBERSHIPS)

    @field_validator("contact")
    @classmethod
    def _contact(cls, value: str) -> str:
        try:
            return normalise_contact(value)
        except RoutingError as exc:
            raise ValueError(exc.message) from exc

    @field_validator("departments")
    @classmethod
    def _unique(cls, memberships: tuple[Membership, ...]) -> tuple[Membership, ...]:
        seen: set[str] = set()
        for m in memberships:
            if m.department in seen:
                raise ValueError(f"department {m.department!r} is listed twice")
            seen.add(m.department)
        return memberships

    @property
    def contact_kind(self) -> ContactKind:
        return contact_kind(self.contact)

    def tier(self, department: str) -> int | None:
        return next((m.tier for m in self.departments if m.department == department), None)


def entry_id(call_sid: str, department: str, join: str = "") -> str:
    """The queue entry of a call in a department: deterministic, so joining twice is one entry.
    ``join`` tells apart two transfers of one call to one department (a flow passes its turn)."""
    key = f"{call_sid}/{department}" + (f"/{join}" if join else "")
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def iso(at: datetime) -> str:
    """The one time format of routing records: UTC, microseconds, fixed width (string order = time order)."""
    if at.tzinfo is None:
        raise ValueError("routing times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)
