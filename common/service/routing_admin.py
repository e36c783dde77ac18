"""Departments and agents through the admin API: validation, etags, tenant isolation, agent status.

Rules owned here:
- Every lookup is scoped by the tenant: another tenant's department or agent is a 404 exactly like a
  missing one, so existence does not leak.
- Bodies are validated whole; errors name each field (``escalation[2].department``, ``contact``) and
  nothing is stored. Cross-document rules: an overflow must name an existing department and must not
  loop back; an agent's memberships must name existing departments.
- Etags (like flows): ``If-Match`` quoted or unquoted (``W/`` ignored, ``*`` = "must exist") must
  match the stored etag or the write is a 409 and changes nothing; without ``If-Match`` a write
  creates or replaces. The etag covers settings only, so an agent's status changes never invalidate
  an admin's If-Match, and an admin's settings write never overwrites live status (it retries its
  compare-and-set against the fresh live fields).
- A department cannot be deleted while agents serve it, callers wait in it, or another department
  overflows into it (409 naming them). An agent on an offer or a call cannot be deleted.
- Status changes follow ``routing.API_TRANSITIONS``; an illegal one is a 409 naming the allowed ones.
  An agent becoming available triggers a dispatch in each of their departments.
- An agent may be bound to one API key (``apiKeyId``, role ``agent``): that key may set that agent's
  status and nobody else's. A key is bound to at most one agent of the tenant (409 otherwise); a PUT
  without ``apiKeyId`` keeps the binding, ``null`` removes it.
- Numbers (``stats``, ``live``) are computed from the entries and agents themselves, by bounded
  queries; no counter document is kept (it would be written for every caller event).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from common.adapters.routing_store import Agent, Department, QueueEntry
from common.core import routing
from common.core.routing_model import (
    AGENT_ID_PATTERN,
    DEPARTMENT_ID_PATTERN,
    AgentSettings,
    AgentStatus,
    DepartmentSettings,
    IllegalTransition,
    iso,
)  # fmt: skip
from common.core.routing_stats import WINDOW_SECONDS, department_stats
from common.service.admin import ApiError
from common.service.ids import KEY_ID
from common.service.routing_base import WRITE_ATTEMPTS, RoutingDeps, bump, commit, quietly, seconds_between

API_STATUSES = ("available", "away", "offline")
STATS_SAMPLE = 200
STATS_CLOSED_LIMIT = 5000
CONSOLE_LIMIT = 100  # callers listed per state by ``console``; the counts stay exact


class Keep(enum.Enum):
    """``put_agent(api_key_id=KEEP)``: leave the agent's key binding as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


def field_path(loc: tuple[int | str, ...]) -> str:
    """('escalation', 2, 'department') -> 'escalation[2].department' (pydantic loc, camelCase kept)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_error(exc: ValidationError, what: str) -> ApiError:
    details = [{"field": field_path(tuple(e["loc"])) or "body", "message": e["msg"].removeprefix("Value error, ")}
               for e in exc.errors(include_url=False)]  # fmt: skip
    return ApiError(422, f"{what}_invalid", f"{details[0]['field']}: {details[0]['message']}", details)


def etag_matches(if_match: str | list[str] | None, stored: str | None) -> bool:
    """``if_match``: None (unconditional), the etags the web layer parsed from If-Match, or the raw
    header (quoted or bare tags, a list, ``*``). Comparison is strong: a weak ``W/`` tag never matches."""
    if if_match is None:
        return True
    if isinstance(if_match, str):
        tags = [t.strip() for t in if_match.split(",")]
        if_match = [t.strip('"') for t in tags if t and not t.startswith("W/")]
    if "*" in if_match:
        return stored is not None
    return stored is not None and stored in if_match


def new_etag(settings: BaseModel) -> str:
    body = json.dumps(settings.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16] + "-" + uuid.uuid4().hex[:8]


def _check_id(value: str, pattern: str, what: str) -> None:
    if not re.fullmatch(pattern, value):
        longest = 48 if what == "department" else 64
        message = f"use 1-{longest} letters, digits, '_', '.' or '-'"
        raise ApiError(400, "invalid_request", f"{what} id {value!r}: {message}",
                       [{"field": f"{what}Id", "message": message}])  # fmt: skip


def department_view(department: Department) -> dict[str, Any]:
    return {"id": department.id, **department.settings.model_dump(mode="json", by_alias=True),
            "etag": department.etag, "updatedAt": department.updated_at,
            "updatedBy": department.updated_by}  # fmt: skip


def agent_view(agent: Agent, now: datetime) -> dict[str, Any]:
    return {"id": agent.id, **agent.settings.model_dump(mode="json", by_alias=True), "etag": agent.etag,
            "status": routing.effective_status(agent, now), "statusSince": agent.status_since,
            "wrapUpUntil": agent.wrap_up_until if agent.status == "wrap-up" else None,
            "missedInARow": agent.missed_in_a_row, "callsHandled": agent.calls_handled,
            "talkSeconds": agent.talk_seconds, "handleEwmaSeconds": agent.handle_ewma_seconds,
            "apiKeyId": agent.api_key_id, "updatedAt": agent.updated_at}  # fmt: skip


class RoutingAdmin:
    def __init__(self, deps: RoutingDeps, on_available: Callable[[str, str, datetime], Any] | None = None) -> None:
        self.deps, self.store = deps, deps.store
        self.on_available = on_available  # (tenant, department, now): the dispatcher

    # -- departments -----------------------------------------------------------------------------

    def put_department(self, tenant_id: str, department_id: str, body: Any, if_match: str | list[str] | None = None,
                       author: str = "") -> tuple[int, dict[str, Any]]:  # fmt: skip
        _check_id(department_id, DEPARTMENT_ID_PATTERN, "department")
        try:
            settings = DepartmentSettings.model_validate(body if body is not None else {})
        except ValidationError as exc:
            raise validation_error(exc, "department") from exc
        others = {d.id: d for d in self.store.list_departments(tenant_id)}
        ladders = {d.id: d.settings.escalation for d in others.values()} | {department_id: settings.escalation}
        problems = routing.check_ladders(department_id, settings.escalation, ladders)
        if problems:
            details = [{"field": p.field, "message": p.message} for p in problems]
            raise ApiError(422, "department_invalid", f"{problems[0].field}: {problems[0].message}", details)
        current = others.get(department_id)
        self._check_etag(if_match, current, f"department '{department_id}'")
        now = self.deps.clock()
        fields = {"settings": settings, "etag": new_etag(settings), "updated_at": iso(now), "updated_by": author}
        record = bump(current, **fields) if current else Department(tenant_id=tenant_id, id=department_id, **fields)
        if not commit(self.store, [record]):
            raise ApiError(409, "conflict", f"department '{department_id}' changed concurrently; reload and retry")
        assert self.deps.departments is not None
        self.deps.departments.forget(tenant_id, department_id)
        return (200 if current else 201), department_view(record)

    def get_department(self, tenant_id: str, department_id: str) -> tuple[dict[str, Any], str]:
        found = self._department(tenant_id, department_id)
        return department_view(found), found.etag

    def list_departments(self, tenant_id: str) -> list[dict[str, Any]]:
        return [department_view(d) for d in self.store.list_departments(tenant_id)]

    def delete_department(self, tenant_id: str, department_id: str, if_match: str | list[str] | None = None) -> None:
        found = self._department(tenant_id, department_id)
        self._check_etag(if_match, found, f"department '{department_id}'")
        feeding = [f"{d.id}.escalation[{i}].department" for d in self.store.list_departments(tenant_id)
                   for i, s in enumerate(d.settings.escalation) if s.department == department_id]  # fmt: skip
        if feeding:
            raise ApiError(409, "department_in_use", f"other departments overflow into '{department_id}': "
                           f"{', '.join(feeding)}; change them first", [{"field": f} for f in feeding])  # fmt: skip
        members = [a.id for a in self.store.list_agents(tenant_id, department_id)]
        if members:
            raise ApiError(409, "department_in_use", f"agents serve '{department_id}': {', '.join(members)}; "
                           "remove the department from them first", [{"agent": a} for a in members])  # fmt: skip
        waiting = sum(self.store.count_entries(tenant_id, department_id, s) for s in ("waiting", "assigned"))
        if waiting:
            raise ApiError(409, "department_in_use", f"{waiting} caller(s) are queued in '{department_id}'")
        if not self.store.delete(found):
            raise ApiError(409, "conflict", f"department '{department_id}' changed concurrently; reload and retry")
        assert self.deps.departments is not None
        self.deps.departments.forget(tenant_id, department_id)

    def _department(self, tenant_id: str, department_id: str) -> Department:
        # an id no department can have is missing too, and never reaches the store as a document path
        found = self.store.get_department(tenant_id, department_id) \
            if re.fullmatch(DEPARTMENT_ID_PATTERN, department_id) else None  # fmt: skip
        if found is None:
            raise ApiError(404, "not_found", f"department '{department_id}' does not exist")
        return found

    @staticmethod
    def _check_etag(if_match: str | list[str] | None, current: Department | Agent | None, what: str) -> None:
        if not etag_matches(if_match, current.etag if current else None):
            now_is = f"is now {current.etag}" if current else "does not exist"
            raise ApiError(409, "conflict", f"{what} {now_is}, not {if_match}; reload it and apply your change again")

    # -- agents ----------------------------------------------------------------------------------

    def put_agent(self, tenant_id: str, agent_id: str, body: Any, if_match: str | list[str] | None = None,
                  author: str = "", api_key_id: str | Keep | None = KEEP) -> tuple[int, dict[str, Any]]:  # fmt: skip
        """``api_key_id``: the API key that may set this agent's status (None: no key; KEEP: unchanged)."""
        _check_id(agent_id, AGENT_ID_PATTERN, "agent")
        if api_key_id is not KEEP and api_key_id is not None and not re.fullmatch(KEY_ID, api_key_id):
            raise ApiError(422, "agent_invalid", "apiKeyId: key ids look like key_0123abcd (or null for none)",
                           [{"field": "apiKeyId", "message": "key ids look like key_0123abcd"}])  # fmt: skip
        try:
            settings = AgentSettings.model_validate(body if body is not None else {})
        except ValidationError as exc:
            raise validation_error(exc, "agent") from exc
        known = {d.id for d in self.store.list_departments(tenant_id)}
        missing = [{"field": f"departments[{i}].department", "message": f"department {m.department!r} does not exist"}
                   for i, m in enumerate(settings.departments) if m.department not in known]  # fmt: skip
        if missing:
            raise ApiError(422, "agent_invalid", f"{missing[0]['field']}: {missing[0]['message']}", missing)
        etag = new_etag(settings)
        for _ in range(WRITE_ATTEMPTS):
            current = self.store.get_agent(tenant_id, agent_id)
            self._check_etag(if_match, current, f"agent '{agent_id}'")
            key = (current.api_key_id if current else None) if api_key_id is KEEP else api_key_id
            if key is not None and key != (current.api_key_id if current else None):
                self._check_key_free(tenant_id, agent_id, key)
            now = self.deps.clock()
            fields = {"settings": settings, "etag": etag, "updated_at": iso(now), "updated_by": author,
                      "department_ids": tuple(m.department for m in settings.departments),
                      "api_key_id": key}  # fmt: skip
            record = bump(current, **fields) if current else \
                Agent(tenant_id=tenant_id, id=agent_id, status_since=iso(now), **fields)  # fmt: skip
            if commit(self.store, [record]):
                return (200 if current else 201), agent_view(record, now)
        raise ApiError(409, "conflict", f"agent '{agent_id}' keeps changing; retry")

    def _check_key_free(self, tenant_id: str, agent_id: str, key_id: str) -> None:
        holder = next((a.id for a in self.store.list_agents(tenant_id) if a.api_key_id == key_id and a.id != agent_id),
                      None)  # fmt: skip
        if holder is not None:
            raise ApiError(409, "key_in_use", f"apiKeyId: key {key_id} is already bound to agent '{holder}'; "
                           "unbind it there first (apiKeyId: null)",
                           [{"field": "apiKeyId", "message": f"bound to agent '{holder}'"}])  # fmt: skip

    def get_agent(self, tenant_id: str, agent_id: str) -> tuple[dict[str, Any], str]:
        found = self._agent(tenant_id, agent_id)
        return agent_view(found, self.deps.clock()), found.etag

    def list_agents(self, tenant_id: str, department_id: str | None = None) -> list[dict[str, Any]]:
        if department_id is not None:
            self._department(tenant_id, department_id)  # 404 for an unknown one, not an empty list
        now = self.deps.clock()
        return [agent_view(a, now) for a in self.store.list_agents(tenant_id, department_id)]

    def delete_agent(self, tenant_id: str, agent_id: str, if_match: str | list[str] | None = None) -> None:
        found = self._agent(tenant_id, agent_id)
        self._check_etag(if_match, found, f"agent '{agent_id}'")
        status = routing.effective_status(found, self.deps.clock())
        if status in ("offered", "busy"):
            raise ApiError(409, "agent_busy", f"agent '{agent_id}' is {status}; delete them after the call")
        if not self.store.delete(found):
            raise ApiError(409, "conflict", f"agent '{agent_id}' changed concurrently; retry")

    def set_status(self, tenant_id: str, agent_id: str, body: Any, as_key: str | None = None) -> dict[str, Any]:
        """``as_key``: the caller is that agent key, which may set only the agent bound to it (else 403)."""
        if as_key is not None:
            bound = self.store.get_agent(tenant_id, agent_id) if re.fullmatch(AGENT_ID_PATTERN, agent_id) else None
            if bound is None or bound.api_key_id != as_key:  # the same answer whether or not the agent exists
                raise ApiError(403, "forbidden", f"key {as_key} is not bound to agent '{agent_id}': an agent key may "
                               "set only the status of the agent whose apiKeyId it is; admin and editor keys may "
                               "set anyone's", {"allowed": ["admin", "editor", "the agent's own key"]})  # fmt: skip
        requested = body.get("status") if isinstance(body, dict) else None
        if requested not in API_STATUSES:
            raise ApiError(400, "invalid_request", f"status: must be one of {', '.join(API_STATUSES)}",
                           [{"field": "status", "message": f"must be one of {', '.join(API_STATUSES)}"}])  # fmt: skip
        for _ in range(WRITE_ATTEMPTS):
            agent, now = self._agent(tenant_id, agent_id), self.deps.clock()
            try:
                changes = routing.api_status(agent, requested, now)
            except IllegalTransition as exc:
                raise ApiError(409, "illegal_transition", str(exc), {"field": "status", "current": exc.current,
                               "requested": exc.requested, "allowed": list(exc.allowed)}) from exc  # fmt: skip
            if not changes:
                return agent_view(agent, now)
            updated = bump(agent, **changes)
            if commit(self.store, [updated]):
                if requested == "available" and self.on_available is not None:
                    for department_id in updated.department_ids:
                        work = partial(self.on_available, tenant_id, department_id, now)
                        quietly(f"dispatch in {department_id}", work)
                return agent_view(updated, now)
        raise ApiError(409, "conflict", f"agent '{agent_id}' keeps changing; retry")

    def _agent(self, tenant_id: str, agent_id: str) -> Agent:
        found = self.store.get_agent(tenant_id, agent_id) if re.fullmatch(AGENT_ID_PATTERN, agent_id) else None
        if found is None:
            raise ApiError(404, "not_found", f"agent '{agent_id}' does not exist")
        return found

    # -- numbers -------------------------------------------------------------------------------

    def stats(self, tenant_id: str, department_id: str, now: datetime | None = None) -> dict[str, Any]:
        """``GET /api/departments/{d}/stats``. Cost: 2 + (waiting sample, <= 200) + agents + (entries
        closed in the last hour, <= 5,000) document reads; no counters are maintained for it."""
        now = now or self.deps.clock()
        department = self._department(tenant_id, department_id)
        waiting = self.store.count_entries(tenant_id, department_id, "waiting")
        sample = self.store.list_entries(tenant_id, department_id, "waiting", STATS_SAMPLE)
        agents = self.store.list_agents(tenant_id, department_id)
        since = iso(now - timedelta(seconds=WINDOW_SECONDS))
        closed = self.store.closed_since(tenant_id, department_id, since, STATS_CLOSED_LIMIT)
        numbers = department_stats(waiting, sample, agents, closed, now, department.settings.service_level_seconds,
                                   closed_truncated=len(closed) >= STATS_CLOSED_LIMIT)  # fmt: skip
        return {"department": department_id, "at": iso(now), **numbers}

    def live(self, tenant_id: str, department_id: str, now: datetime | None = None) -> dict[str, Any] | None:
        """``departments.<id>`` for flow decision rules: available agents, waiting callers, expected wait
        for a caller joining now. Cost: the logged-in agents + one count. None for an unknown department."""
        now = now or self.deps.clock()
        if self.deps.department(tenant_id, department_id) is None:
            return None
        agents = self.store.list_agents(tenant_id, department_id, statuses=routing.LOGGED_IN)
        waiting = self.store.count_entries(tenant_id, department_id, "waiting")
        statuses = [routing.effective_status(a, now) for a in agents]
        return {"available": statuses.count("available"), "staffed": sum(s in routing.LOGGED_IN for s in statuses),
                "waiting": waiting, "expectedWait": routing.expected_wait(waiting, agents, now)}  # fmt: skip

    def console(self, tenant_id: str, department_id: str, now: datetime | None = None) -> dict[str, Any]:
        """``GET /api/departments/{d}/live``: what a supervisor's console shows. Callers waiting (in
        queue order), ringing an agent and talking, at most CONSOLE_LIMIT of each (``waiting`` is the
        exact count), and the department's agents by status. Cost: 1 + one count + up to three bounded
        queries + the agents."""
        now = now or self.deps.clock()
        self._department(tenant_id, department_id)
        waiting_count = self.store.count_entries(tenant_id, department_id, "waiting")
        lists = {status: self.store.list_entries(tenant_id, department_id, status, CONSOLE_LIMIT)
                 for status in ("waiting", "assigned", "connected")}  # fmt: skip
        agents = self.store.list_agents(tenant_id, department_id)
        by_status: dict[str, list[dict[str, Any]]] = {status: [] for status in get_args(AgentStatus)}
        for agent in agents:
            status = routing.effective_status(agent, now)
            on_entry = agent.entry_id if agent.entry_department == department_id else None
            by_status[status].append({"id": agent.id, "name": agent.settings.name, "since": agent.status_since,
                                      "tier": agent.settings.tier(department_id), "entryId": on_entry})  # fmt: skip

        def caller(entry: QueueEntry) -> dict[str, Any]:
            return {"entryId": entry.id, "callSid": entry.call_sid, "caller": entry.caller, "kind": entry.kind,
                    "priority": entry.priority, "arrivedAt": entry.arrived_at,
                    "waitedSeconds": seconds_between(entry.arrived_at, now)}  # fmt: skip

        return {
            "department": department_id, "at": iso(now), "waiting": waiting_count,
            "expectedWaitSeconds": routing.expected_wait(waiting_count, agents, now),
            "truncated": waiting_count > len(lists["waiting"]),
            "callers": [{"position": i + 1, **caller(e)} for i, e in enumerate(lists["waiting"])],
            "ringing": [{**caller(e), "agents": list(e.agent_ids), "offeredAt": e.offered_at}
                        for e in lists["assigned"]],
            "talking": [{**caller(e), "agent": e.connected_agent, "connectedAt": e.connected_at,
                         "talkSeconds": seconds_between(e.connected_at, now)} for e in lists["connected"]],
            "agents": by_status,
            "agentCounts": {status: len(listed) for status, listed in by_status.items()},
        }  # fmt: skip
