"""What the department routing API takes and answers, as pydantic models: the request and response
schemas its operations declare (``common.web.routing_api.OPERATIONS``) for the OpenAPI document.

Rules owned here:
- Request bodies are the models the service validates with (``DepartmentSettings``, ``AgentSettings``
  plus the key binding, ``RouteBody``) or, where the service reads a dict, a model the web layer
  checks first (``StatusRequest``), so what the document promises is what is enforced.
- Views state the shape of the service's plain-dict answers (``department_view``, ``agent_view``,
  stats, the console view); the schemathesis run holds real answers to them, so a view that drifts
  from its model fails the suite. Fields the service adds later must be added here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from common.core.routing_model import AgentSettings, AgentStatus, DepartmentSettings
from common.service import ids

API_STATUS = Literal["available", "away", "offline"]


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AgentRequest(AgentSettings):
    """``PUT /api/agents/{agentId}``: the agent's settings and, optionally, the API key bound to it."""

    api_key_id: str | None = Field(None, pattern=ids.KEY_ID, description="an API key of role agent; null unbinds, "
                                   "absent keeps the binding")  # fmt: skip


class StatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    status: API_STATUS


class TaskPayload(BaseModel):
    """What the routing timers schedule; a sweep names no entry, an escalation a ladder step or ``max``."""

    model_config = ConfigDict(extra="allow")
    tenant: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    department: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    entry: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    step: int | Literal["max"] | None = Field(None, ge=0)


# -- answers ------------------------------------------------------------------------------------------


class DepartmentView(DepartmentSettings):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel)
    id: str
    etag: str
    updated_at: str
    updated_by: str


class DepartmentList(_View):
    departments: list[DepartmentView]


class AgentView(AgentSettings):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel)
    id: str
    etag: str
    status: AgentStatus
    status_since: str
    wrap_up_until: str | None
    missed_in_a_row: int
    calls_handled: int
    talk_seconds: int
    handle_ewma_seconds: float | None
    api_key_id: str | None
    updated_at: str


class AgentList(_View):
    agents: list[AgentView]


class RouteAnswer(_View):
    outcome: Literal["queued"]
    entryId: str
    department: str
    status: str
    priority: int
    position: int | None = Field(description="1-based place among waiting callers; 0 once offered to an agent")
    expectedWaitSeconds: int | None
    created: bool


class AgentCounts(_View):
    available: int
    offered: int
    busy: int
    wrap_up: int = Field(alias="wrap-up")
    away: int
    offline: int


class DepartmentStats(_View):
    department: str
    at: str
    waiting: int
    waitingByPriority: dict[str, int]
    longestWaitSeconds: int
    truncated: bool
    agents: AgentCounts
    expectedWaitSeconds: int
    windowSeconds: int
    answered: int
    answeredWithin: int
    serviceLevelSeconds: int
    serviceLevel: float | None
    abandoned: int
    abandonmentRate: float | None
    closed: dict[str, int]


class LiveCaller(_View):
    position: int | None = None
    entryId: str
    callSid: str
    caller: str
    kind: Literal["call", "callback"]
    priority: int
    arrivedAt: str
    waitedSeconds: int | None
    agents: list[str] | None = None  # ringing
    offeredAt: str | None = None
    agent: str | None = None  # talking
    connectedAt: str | None = None
    talkSeconds: int | None = None


class LiveAgent(_View):
    id: str
    name: str
    since: str
    tier: int | None
    entryId: str | None


class LiveAgents(_View):
    available: list[LiveAgent]
    offered: list[LiveAgent]
    busy: list[LiveAgent]
    wrap_up: list[LiveAgent] = Field(alias="wrap-up")
    away: list[LiveAgent]
    offline: list[LiveAgent]


class DepartmentLive(_View):
    department: str
    at: str
    waiting: int
    expectedWaitSeconds: int
    truncated: bool
    callers: list[LiveCaller]
    ringing: list[LiveCaller]
    talking: list[LiveCaller]
    agents: LiveAgents
    agentCounts: AgentCounts


class TaskResult(BaseModel):
    """What a delivered timer did: ``{"result": ...}`` (escalate), counts (sweep), ``{"assigned": n}``."""

    model_config = ConfigDict(extra="allow")
    result: str | None = None
    assigned: int | None = None


class DeletedView(_View):
    deleted: str

