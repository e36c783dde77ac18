"""From what a call's turns record to the exported call events (common/core/events.py).

    derive(raw_events, call, cursor, flow) -> (rows, new cursor)

The engine records what happened in a turn (``FlowEvent``s, kept as dicts on the call document:
``{"type", "seq", "at", "nodeId", "data"}``); the host adds ``call.routed`` and ``call.completed``.
``derive`` turns one turn's raw events into contract rows, carrying a small ``cursor`` from turn to
turn (stored with the call) so that what spans turns can be computed:

    raw event                      rows                                    cursor
    -----------------------------  --------------------------------------  ---------------------------
    call.routed, call.started      the same type                           -
    node.entered B                 node.left A (if a node A is open),      open node := B, its time
                                   node.entered B
    decision.matched, input.*,     the same type                           the outcome A will leave by
    http.*, transfer.*,
    recording.ended (not late)
    call.ended (unhandled_outcome, node.left A by the outcome that has     open node := none
    loop_guard, step_limit)        no edge
    call.completed                 call.completed (billable_seconds)       open node := none
    call.fallback (the host: the   call.fallback (reason, region)          -
    caller heard the fallback)
    anything else (warnings)       nothing: it stays on the call document  -

Rules owned here:
- ``node.left``'s outcome is the outcome the node reported (the rule that matched, ``success``,
  ``noMatch``, the transfer's outcome...) when the flow's edge for it leads to the node entered
  next; otherwise the one outcome whose edge leads there (an hours node: open or closed); otherwise
  ``next``. Its ``duration_ms`` is the time between the two turns' clocks (0 within one turn).
- A caller who hangs up while a node waits never leaves it: the funnel sees that node as
  ``call.completed.ended_at_node``.
- Each row's index (for ``event_id``) is the cursor's running count, so the same turn derived again
  from the same cursor gives the same ids.
Pure: no I/O, no clock (times come from the raw events).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.core.events import CallEvent, build
from common.core.flow import CompiledFlow, DepartmentTarget, TransferNode

_ENDINGS_LEAVING = ("unhandled_outcome", "loop_guard", "step_limit")
_OUTCOME_OF = {"input.accepted": lambda d: "success", "input.rejected": lambda d: d.get("reason") or "noInput",
               "decision.matched": lambda d: str(d.get("rule", "default")),
               "http.completed": lambda d: "success" if d.get("ok") else "failed",
               "http.failed": lambda d: "failed", "transfer.ended": lambda d: str(d.get("outcome", "failed")),
               "recording.ended": lambda d: "recorded" if d.get("recorded") else "noAudio",
               "hours.unknown_schedule": lambda d: "closed"}  # fmt: skip


@dataclass(frozen=True)
class CallFacts:
    """What the rows carry besides the raw events: who, which flow, where."""

    tenant_id: str
    call_sid: str
    flow_id: str
    flow_version: str
    environment: str = "production"
    http_ms: int | None = None  # this turn's HTTP request as the webhook performed it


def _ms(later: str, earlier: str | None) -> int:
    if not earlier:
        return 0
    try:
        delta = datetime.fromisoformat(later) - datetime.fromisoformat(earlier)
    except ValueError:
        return 0
    return max(0, int(delta.total_seconds() * 1000))


def _left_by(flow: CompiledFlow | None, node_id: str, reported: str | None, target: str | None) -> str:
    if flow is None or target is None:
        return reported or "next"
    if reported is not None and flow.next_node(node_id, reported) == target:
        return reported
    leading = sorted({e.outcome for e in flow.flow.edges if e.source == node_id and e.target == target})
    if len(leading) == 1:
        return leading[0]
    return reported or (leading[0] if leading else "next")


def _department(flow: CompiledFlow | None, node_id: str | None) -> str | None:
    node = flow.nodes.get(node_id) if flow is not None and node_id else None
    if isinstance(node, TransferNode) and isinstance(node.data.target, DepartmentTarget):
        return node.data.target.department
    return None


class _Deriving:
    def __init__(self, facts: CallFacts, cursor: Mapping[str, Any], flow: CompiledFlow | None) -> None:
        self.facts, self.flow = facts, flow
        self.count = int(cursor.get("count", 0))
        self.open: str | None = cursor.get("node")
        self.open_at: str | None = cursor.get("at")
        self.reported: str | None = cursor.get("outcome")
        self.http_at: str | None = cursor.get("http_at")
        self.rows: list[CallEvent] = []

    def cursor(self) -> dict[str, Any]:
        out = {"count": self.count, "node": self.open, "at": self.open_at, "outcome": self.reported,
               "http_at": self.http_at}  # fmt: skip
        return {k: v for k, v in out.items() if v is not None}

    def add(self, type_: str, at: str, node_id: str | None, data: dict[str, Any], **columns: Any) -> None:
        f = self.facts
        self.rows.append(build(type_, source=f.call_sid, index=self.count, tenant_id=f.tenant_id, occurred_at=at,
                               call_sid=f.call_sid, flow_id=f.flow_id, flow_version=f.flow_version,
                               node_id=node_id, data=data, **columns))  # fmt: skip
        self.count += 1

    def leave(self, at: str, target: str | None, outcome: str | None = None) -> None:
        if self.open is None:
            return
        taken = outcome or _left_by(self.flow, self.open, self.reported, target)
        self.add("node.left", at, self.open, {"outcome": taken, "duration_ms": _ms(at, self.open_at)})
        self.open, self.open_at, self.reported = None, None, None

    def one(self, raw: Mapping[str, Any]) -> None:
        type_, at, node = str(raw.get("type", "")), str(raw.get("at", "")), raw.get("nodeId")
        d: Mapping[str, Any] = raw.get("data") or {}
        if type_ in _OUTCOME_OF and not d.get("late"):
            self.reported = _OUTCOME_OF[type_](d)
        if type_ == "call.started":
            self.add(type_, at, None, {"from": str(d.get("From", "")), "to": str(d.get("To", "")),
                                       "environment": self.facts.environment})  # fmt: skip
        elif type_ == "call.routed":
            self.add(type_, at, None, {"reason": str(d.get("reason", "")), "deployment_id": d.get("deployment")})
        elif type_ == "node.entered":
            self.leave(at, node)
            self.add(type_, at, node, {"node_type": str(d.get("type", ""))})
            self.open, self.open_at, self.reported = node, at, None
        elif type_ in ("decision.matched", "input.accepted", "input.rejected", "http.requested"):
            keep = {"decision.matched": ("rule",), "input.accepted": ("variable", "attempt"),
                    "input.rejected": ("reason", "attempt"), "http.requested": ("method",)}[type_]  # fmt: skip
            self.add(type_, at, node, {k: d.get(k) for k in keep})
            if type_ == "http.requested":
                self.http_at = at
        elif type_ in ("http.completed", "http.failed"):
            duration = self.facts.http_ms if self.facts.http_ms is not None else _ms(at, self.http_at)
            data = {"status_code": d.get("status_code", 0), "ok": bool(d.get("ok"))} if type_ == "http.completed" \
                else {"error": str(d.get("error", ""))}  # fmt: skip
            self.add(type_, at, node, {**data, "duration_ms": 0 if d.get("error") == "bad_url" else duration})
            self.http_at = None
        elif type_ == "transfer.started":
            department = d.get("department")
            target = "department" if department else str(d.get("target", "number"))
            self.add(type_, at, node, {"target": target, "priority": d.get("priority") if department else None},
                     department_id=department)  # fmt: skip
        elif type_ == "transfer.ended":
            self.add(type_, at, node, {"outcome": str(d.get("outcome", ""))},
                     department_id=_department(self.flow, node))  # fmt: skip
        elif type_ == "recording.ended":
            self.add(type_, at, node, {"duration_seconds": int(d.get("duration") or 0),
                                       "recorded": bool(d.get("recorded")), "late": bool(d.get("late"))})  # fmt: skip
        elif type_ == "call.ended" and d.get("reason") in _ENDINGS_LEAVING:
            outcome = d.get("outcome") if d.get("reason") == "unhandled_outcome" else None
            self.leave(at, None, str(outcome) if outcome else None)
        elif type_ == "call.fallback":
            self.add(type_, at, node, {"reason": str(d.get("reason") or "unknown"), "region": d.get("region")})
        elif type_ == "call.completed":
            billable = d.get("billable_seconds")
            self.add(type_, at, d.get("ended_at_node"), {
                "duration_seconds": d.get("duration_seconds"), "end_reason": str(d.get("end_reason", "")),
                "webhook_steps": int(d.get("webhook_steps") or 0), "ended_at_node": d.get("ended_at_node"),
                "call_status": d.get("call_status")}, billable_seconds=billable)  # fmt: skip
            self.open, self.open_at, self.reported = None, None, None


def derive(raw_events: Iterable[Mapping[str, Any]], facts: CallFacts, cursor: Mapping[str, Any] | None,
           flow: CompiledFlow | None) -> tuple[list[CallEvent], dict[str, Any]]:  # fmt: skip
    """The rows one turn's raw events export, and the cursor to store for the next turn."""
    state = _Deriving(facts, cursor or {}, flow)
    for raw in raw_events:
        state.one(raw)
    return state.rows, state.cursor()
