"""Fixture call events with numbers worked out by hand (see each call's comment), and a DuckDB file
or connection holding them with the contract's columns.

Tenant acme, flow support: version 3 (calls A, B, C, G-J, F) and version 4 (call D); tenant globex,
flow main version 1 (call E). The department sales has five queue visits (G-J and A).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common.reports.events_file import CALL_EVENTS_DDL, COLUMNS


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Call:
    """Builds one call's events in order; every event gets a deterministic id as the contract says."""

    tenant: str
    sid: str
    flow: str | None
    version: str | None
    start: datetime
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, seconds: float, node: str | None = None, department: str | None = None,
            billable: int | None = None, **data: Any) -> dict[str, Any]:  # fmt: skip
        seq = len(self.events)
        event = {
            "event_id": hashlib.sha256(f"{self.sid}:{seq}:{kind}".encode()).hexdigest()[:32],
            "schema_version": 1, "type": kind, "tenant_id": self.tenant, "call_sid": self.sid,
            "flow_id": self.flow, "flow_version": self.version, "node_id": node, "department_id": department,
            "agent_id": data.pop("agent", None), "occurred_at": self.start + timedelta(seconds=seconds),
            "billable_seconds": billable, "data": data or None, "event_index": seq,
        }  # fmt: skip
        self.events.append(event)
        return event

    def started(self, caller: str, called: str) -> dict[str, Any]:
        data: dict[str, Any] = {"from": caller, "to": called, "environment": "production"}
        return self.add("call.started", 0, **data)

    def completed(self, seconds: float, billable: int, steps: int, reason: str, node: str | None) -> dict[str, Any]:
        return self.add("call.completed", seconds, node=node, billable=billable, duration_seconds=billable,
                        end_reason=reason, webhook_steps=steps, ended_at_node=node)  # fmt: skip


def queue_call(sid: str, start: str, outcome: str, wait: int) -> Call:
    """A call that goes straight to the sales queue: 2 billable minutes, 3 webhook steps."""
    call = Call("acme", sid, "support", "3", at(start))
    call.started("+15005550006", "+13072249663")
    call.add("queue.joined", 0, department="sales", priority=0, position=1)
    if outcome == "answered":
        call.add("queue.offered", wait - 1, department="sales", agent="ada")
        call.add("queue.answered", wait, department="sales", agent="ada", wait_seconds=wait,
                 service_level_seconds=20)  # fmt: skip
    elif outcome == "abandoned":
        call.add("queue.abandoned", wait, department="sales", wait_seconds=wait)
    else:
        call.add("queue.left", wait, department="sales", outcome=outcome)
    call.completed(wait + 70, 111, 3, "completed", None)
    return call


def scenario() -> dict[str, Call]:
    calls: dict[str, Call] = {}

    # A: menu "1" -> lookup (HTTP) -> transfer to sales, answered after 25 s. 61 s = 2 minutes, 5 steps.
    a = Call("acme", "CA_A", "support", "3", at("2026-11-03T10:00:00Z"))
    a.started("+15005550006", "+13072249663")
    a.add("call.routed", 0, reason="deployed")
    a.add("node.entered", 1, node="menu", node_type="gather")
    a.add("node.left", 5, node="menu", outcome="1", duration_ms=4000)
    a.add("node.entered", 5, node="lookup", node_type="http")
    a.add("http.requested", 5, node="lookup", method="GET")
    a.add("http.completed", 5.8, node="lookup", status_code=200, ok=True, duration_ms=800)
    a.add("node.left", 5.8, node="lookup", outcome="success", duration_ms=800)
    a.add("node.entered", 6, node="transfer_sales", node_type="transfer")
    a.add("transfer.started", 6, node="transfer_sales", department="sales", target="department", priority=0)
    a.add("queue.joined", 10, department="sales", priority=0, position=1)
    a.add("queue.offered", 30, department="sales", agent="ada")
    a.add("queue.answered", 35, department="sales", agent="ada", wait_seconds=25, service_level_seconds=20)
    a.add("transfer.ended", 60, node="transfer_sales", department="sales", outcome="completed")
    a.completed(61, 61, 5, "completed", "transfer_sales")
    calls["A"] = a

    # B: the menu times out, the caller is asked again and hangs up there. 45 s = 1 minute, 3 steps.
    b = Call("acme", "CA_B", "support", "3", at("2026-11-03T10:30:00Z"))
    b.started("+15005550007", "+13072249663")
    b.add("node.entered", 1, node="menu", node_type="gather")
    b.add("node.left", 6, node="menu", outcome="timeout", duration_ms=5000)
    b.add("node.entered", 6, node="menu", node_type="gather")
    b.completed(45, 45, 3, "caller_hangup", "menu")
    calls["B"] = b

    # C: starts 30 s before November: October's call, though everything after its start is in November.
    # menu "2" -> voicemail, 20 s recorded. 90 s = 2 minutes (not 1.5), 4 steps.
    c = Call("acme", "CA_C", "support", "3", at("2026-10-31T23:59:30Z"))
    c.started("+15005550008", "+13072249663")
    c.add("node.entered", 2, node="menu", node_type="gather")
    c.add("node.left", 35, node="menu", outcome="2", duration_ms=3000)
    c.add("node.entered", 35, node="voicemail", node_type="record")
    c.add("recording.ended", 60, node="voicemail", duration_seconds=20, recorded=True)
    c.completed(90, 90, 4, "hangup_node", "voicemail")
    calls["C"] = c

    # D: version 4, still at the menu (no call.completed): a call, 0 minutes, 0 steps, not completed.
    d = Call("acme", "CA_D", "support", "4", at("2026-11-20T09:00:00Z"))
    d.started("+15005550009", "+13072249663")
    d.add("node.entered", 1, node="menu", node_type="gather")
    calls["D"] = d

    # E: globex, not answered: 0 billable seconds, 2 steps.
    e = Call("globex", "CA_E", "main", "1", at("2026-11-05T08:00:00Z"))
    e.started("+15005550010", "+13072240000")
    e.completed(3, 0, 2, "failed", None)
    calls["E"] = e

    # F: starts at exactly 00:00:00 on 1 December: December's. 60 s = 1 minute exactly, 2 steps.
    f = Call("acme", "CA_F", "support", "3", at("2026-12-01T00:00:00Z"))
    f.started("+15005550011", "+13072249663")
    f.completed(60, 60, 2, "completed", None)
    calls["F"] = f

    # Queue visits of sales, 10:00 hour: A answered after 25 s (over the 20 s threshold), G after 10 s,
    # H abandoned after 40 s, I left for voicemail; 11:00 hour: J answered after 5 s.
    calls["G"] = queue_call("CA_G", "2026-11-03T10:20:00Z", "answered", 10)
    calls["H"] = queue_call("CA_H", "2026-11-03T10:40:00Z", "abandoned", 40)
    calls["I"] = queue_call("CA_I", "2026-11-03T10:50:00Z", "voicemail", 30)
    calls["J"] = queue_call("CA_J", "2026-11-03T11:05:00Z", "answered", 5)
    return calls


def rows(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(json.dumps(e[c]) if c == "data" and e[c] is not None else e.get(c) for c in COLUMNS)
            for e in events]  # fmt: skip


def insert(connection: Any, events: list[dict[str, Any]]) -> None:
    connection.execute(CALL_EVENTS_DDL)
    placeholders = ", ".join("?" for _ in COLUMNS)
    if events:
        connection.executemany(f"INSERT INTO call_events ({', '.join(COLUMNS)}) VALUES ({placeholders})", rows(events))


def all_events(calls: dict[str, Call]) -> list[dict[str, Any]]:
    return [event for call in calls.values() for event in call.events]
