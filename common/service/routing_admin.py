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
- Numbers (``stats``, ``live``) are computed from the entries and agents themselves, by bounded
  queries; no counter document is kept (it would be written for every caller event).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pydantic import BaseModel, ValidationError

from common.adapters.routing_store import Agent, Department
from common.core import routing
from common.core.routing_model import (
    AGENT_ID_PATTERN,
    DEPARTMENT_ID_PATTERN,
    AgentSettings,
    DepartmentSettings,
    IllegalTransition,
    iso,
)  # fmt: skip
from common.core.routing_stats import WINDOW_SECONDS, department_stats
from common.service.admin import ApiError
from common.service.routing_base import WRITE_ATTEMPTS, RoutingDeps, bump, commit, quietly

API_STATUSES = ("available", "away", "offline")
STATS_SAMPLE = 200
STATS_CLOSED_LIMIT = 5000


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
            "updatedAt": agent.updated_at}  # fmt: skip


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
                  author: str = "") -> tuple[int, dict[str, Any]]:  # fmt: skip
        _check_id(agent_id, AGENT_ID_PATTERN, "agent")
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
            now = self.deps.clock()
            fields = {"settings": settings, "etag": etag, "updated_at": iso(now), "updated_by": author,
                      "department_ids": tuple(m.department for m in settings.departments)}  # fmt: skip
            record = bump(current, **fields) if current else \
                Agent(tenant_id=tenant_id, id=agent_id, status_since=iso(now), **fields)  # fmt: skip
            if commit(self.store, [record]):
                return (200 if current else 201), agent_view(record, now)
        raise ApiError(409, "conflict", f"agent '{agent_id}' keeps changing; retry")

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

    def set_status(self, tenant_id: str, agent_id: str, body: Any) -> dict[str, Any]:
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
        for a caller joining now. Cost: the agents + one count. None for an unknown department."""
        now = now or self.deps.clock()
        if self.deps.department(tenant_id, department_id) is None:
            return None
        agents = self.store.list_agents(tenant_id, department_id)
        waiting = self.store.count_entries(tenant_id, department_id, "waiting")
        statuses = [routing.effective_status(a, now) for a in agents]
        return {"available": statuses.count("available"), "staffed": sum(s in routing.LOGGED_IN for s in statuses),
                "waiting": waiting, "expectedWait": routing.expected_wait(waiting, agents, now)}  # fmt: skip
