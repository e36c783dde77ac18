"""HTTP plumbing of calls as the console watches them: the tenant's calls and one call's transcript.

    handle(request, svc) -> (body, status, headers)    any /api/calls* request (the admin API delegates)

    method  path                  who may   what
    GET     /api/calls            read      the tenant's calls, newest first: ?active=true|false&limit=1..200
    GET     /api/calls/{callSid}  read      one call: where it is, the path so far, its events

Rules owned here:
- The operations are ``OPERATIONS`` (``operations.Operation`` with the query and answer models
  below), which the admin API's table, the OpenAPI document and the fuzz test pick up.
- Keys and roles as everywhere in the admin API (``common.web.api``): 401 without a valid key, 403
  for a role without ``read`` (an agent key) and for the platform admin key.
- Query parameters are the operation's ``Query`` model: a wrong value or an unknown name is 400
  naming ``query.<name>``, like the admin API (a misspelt ``?actve=true`` must not list every call).
- A tenant sees its own calls only. Another tenant's call is 404, worded exactly like a call that
  does not exist, so a sid cannot be probed; a sid that no Twilio call can have is 404 without a
  store read.
- What a call shows: number, flow and version, status, when it started, seconds in call (by the
  service's clock while active, else Twilio's duration), the current node, the path of nodes so far,
  the outcome, and the events (``node.entered``, inputs, transfers...). Never the TwiML, the
  trigger's raw parameters nor the flow's variables: callers' answers stay out of a list view.
- Listing uses the store's ``list_calls(tenant_id, active, limit)`` (newest first)
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.adapters.ports import CallRecord, StoreUnavailable
from common.service import ids
from common.service.admin import ApiError, parse
from common.service.operations import Operation, Query
from common.web.api import RETRY_AFTER_SECONDS, Reply, no_store_json, tenant_reader

log = logging.getLogger("ivr.api.calls")

CALL_SID = re.compile(r"CA[0-9A-Za-z]{32}")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_EVENTS = 500  # a call's events in one answer (a long call may have more: ``eventsTruncated``)


class CallsQuery(Query):
    active: bool | None = Field(None, description="true: calls in progress; false: ended calls; absent: both")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="at most this many calls, newest first")


class NoQuery(Query):
    """An operation that takes no query parameter: any is refused, naming it."""


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallSummary(_View):
    callSid: str
    number: str
    caller: str | None
    flowId: str
    version: str
    status: str = Field(description="active or ended")
    callStatus: str | None = Field(description="Twilio's CallStatus, as last reported")
    startedAt: str
    updatedAt: str
    secondsInCall: int | None
    currentNode: str | None
    path: list[str]
    outcome: str | None
    endReason: str | None
    steps: int


class CallEvent(_View):
    type: str | None
    seq: int | None
    at: str | None
    nodeId: str | None
    data: dict[str, Any]


class CallDetail(CallSummary):
    events: list[CallEvent] = Field(description=f"in order, at most {MAX_EVENTS}")
    eventsTruncated: bool


class CallList(_View):
    at: str = Field(description="the service's clock when it answered")
    calls: list[CallSummary]


OPERATIONS: tuple[Operation, ...] = (
    Operation("list_calls", "GET", "/api/calls", "read", "The tenant's calls, newest first", query=CallsQuery,
              response=CallList),
    *(() if "callSid" not in ids.PATH_PARAMS else (  # the id pattern comes with ids.PATH_PARAMS
        Operation("get_call", "GET", "/api/calls/{callSid}", "read", "One call: where it is, its path and events",
                  query=NoQuery, errors=(404,), response=CallDetail),)),
)  # fmt: skip


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return no_store_json(body, status, headers)


def _principal(request: Any, svc: Any) -> Any:
    return tenant_reader(request, svc, "read calls (GET /api/calls)")


def _now(svc: Any) -> datetime:
    now: datetime = svc.calls.now()
    return now


def _seconds_between(start: str, end: datetime) -> int | None:
    try:
        began = datetime.fromisoformat(start)
    except (TypeError, ValueError):
        return None
    return max(0, int((end - began).total_seconds())) if began.tzinfo else None


def call_view(call: CallRecord, now: datetime, with_events: bool) -> dict[str, Any]:
    state = call.state
    path = list(state.path)
    cursor = state.cursor or state.waiting
    # an ended call is at no node (its last one ends ``path``), though its state still has a cursor
    current = None if call.status != "active" else cursor if cursor else (path[-1] if path else None)
    started = state.started_at or call.created_at
    seconds = _seconds_between(started, now) if call.status == "active" else call.duration_seconds
    trigger = state.trigger
    view: dict[str, Any] = {
        "callSid": call.call_sid, "number": call.number, "caller": trigger.get("From"),
        "flowId": call.flow_id, "version": call.flow_version, "status": call.status,
        "callStatus": call.call_status, "startedAt": started, "updatedAt": call.updated_at,
        "secondsInCall": seconds, "currentNode": current, "path": path, "outcome": call.outcome,
        "endReason": state.end_reason, "steps": call.seq,
    }  # fmt: skip
    if with_events:
        events = call.events[:MAX_EVENTS]
        view["events"] = [{"type": e.get("type"), "seq": e.get("seq"), "at": e.get("at"), "nodeId": e.get("nodeId"),
                           "data": e.get("data") or {}} for e in events]  # fmt: skip
        view["eventsTruncated"] = len(call.events) > MAX_EVENTS
    return view


def _query(request: Any, model: type[Query]) -> Any:
    if "" in request.args:  # "?=x": a parameter without a name is malformed, not merely unknown
        raise ApiError(400, "invalid_request", "query: a parameter has no name (write name=value)",
                       [{"field": "query", "message": "a parameter without a name"}])  # fmt: skip
    return parse(model, request.args.to_dict(), where="query")


def _list(request: Any, svc: Any) -> Reply:
    principal = _principal(request, svc)
    query = _query(request, CallsQuery)
    now = _now(svc)
    calls = [c for c in svc.store.list_calls(principal.tenant.id, query.active, query.limit)
             if c.tenant_id == principal.tenant.id]  # fmt: skip
    return _json({"at": now.isoformat(), "calls": [call_view(c, now, with_events=False) for c in calls[:query.limit]]})


def _one(request: Any, svc: Any, call_sid: str) -> Reply:
    principal = _principal(request, svc)
    _query(request, NoQuery)
    missing = ApiError(404, "not_found", f"call {call_sid[:40]!r} does not exist")
    if not CALL_SID.fullmatch(call_sid):
        raise ApiError(404, "not_found", f"{call_sid[:40]!r} is not a call sid: CA followed by 32 letters or digits")
    found = svc.store.read_call(call_sid)
    if found is None or found[0].tenant_id != principal.tenant.id:
        raise missing
    return _json(call_view(found[0], _now(svc), with_events=True))


def handle(request: Any, svc: Any) -> Reply:
    path = request.path.rstrip("/") or "/"
    try:
        parts = path.split("/")  # "", "api", "calls", [sid]
        if len(parts) not in (3, 4) or parts[:3] != ["", "api", "calls"]:
            raise ApiError(404, "not_found", f"no API route {path}")
        if request.method != "GET":
            return _json(ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {path}; "
                                  "use GET").body(), 405, {"Allow": "GET"})  # fmt: skip
        return _list(request, svc) if len(parts) == 3 else _one(request, svc, parts[3])
    except ApiError as exc:
        return _json(exc.body(), exc.status)
    except StoreUnavailable as exc:
        log.error("API %s %s: the store is unavailable: %s", request.method, path, exc)
        return _json(ApiError(503, "store_unavailable", "storage did not answer in time; retry in a few "
                              "seconds").body(), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip
    except Exception:
        log.exception("API %s %s failed", request.method, path)
        return _json(ApiError(500, "internal", "unexpected error; check the current state before retrying").body(), 500)
