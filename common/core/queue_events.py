"""Queue and agent events: what one committed revision of a queue entry or an agent exports.

    entry_events(before, after, now) -> rows     before/after: QueueEntry dumps (before None: created)
    agent_events(before, after, now) -> rows     the same for an Agent

Department routing keeps its state in entry and agent documents, each write a new ``revision``
(compare-and-set), and an entry's ``history`` lists what happened to it (``{"at", "event", ...}``).
Comparing the revision read with the one committed gives the events:

    what changed                                 event
    -------------------------------------------  --------------------------------------------------
    the entry is created (no before)             queue.joined (priority)
    history "callbackRequested"                  callback.requested (number_hash, never the number)
    announced_at moved                           queue.announced (position, expected_wait_seconds)
    history "offered" (agents)                   queue.offered, one per agent
    history "declined" / "released" (reason)     queue.declined (declined / no-answer / busy...)
    history "connected" (agent)                  queue.answered (wait_seconds, service_level_seconds)
    history "escalated" (action), not skipped    queue.escalated (raisePriority, overflow, callback,
                                                 voicemail, timeout; to_department)
    status becomes abandoned                     queue.abandoned (wait_seconds, service_level_seconds)
    status becomes timeout / voicemail / ended   queue.left (timeout / voicemail / closed)
    a callback entry completes or fails          callback.completed (completed / failed, attempts)
    an agent's status changes                    agent.status_changed (from_status, to_status)

Rules owned here:
- ``service_level_seconds`` is the department's target as the host read it (None when unknown): the
  reports compute service level per hour from the events alone.
- Ids: source ``entry:<tenant>/<department>/<entry>`` (``agent:<tenant>/<agent>``), index
  ``revision * 64 + k`` (k: the event's place in that revision): each revision is committed once,
  so deriving it again gives the same ids and the views drop the copy.
- ``occurred_at`` is the history item's ``at`` when there is one, else the time the entry records
  for the change (closed_at, announced_at, joined_at), else ``now``.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from common.core.events import CallEvent, build

_CLOSED = {"completed", "abandoned", "overflowed", "timeout", "voicemail", "callbackFailed", "ended"}
_LEFT = {"timeout": "timeout", "voicemail": "voicemail", "ended": "closed"}
_ACTIONS = {"maxWait": "timeout", "offerCallback": "callback"}
PER_REVISION = 64


def number_hash(number: str) -> str:
    return hashlib.sha256(number.encode("utf-8", "replace")).hexdigest()[:16]


class _Rows:
    def __init__(self, source: str, revision: int, tenant_id: str, now: str, **columns: Any) -> None:
        self.source, self.base, self.tenant_id, self.now, self.columns = source, revision * PER_REVISION, tenant_id, \
            now, columns  # fmt: skip
        self.rows: list[CallEvent] = []

    def add(self, type_: str, at: str | None, data: dict[str, Any], **columns: Any) -> None:
        if len(self.rows) >= PER_REVISION:
            return
        self.rows.append(build(type_, source=self.source, index=self.base + len(self.rows), tenant_id=self.tenant_id,
                               occurred_at=at or self.now, data=data, **{**self.columns, **columns}))  # fmt: skip


def _new_history(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    old = list(before.get("history") or ()) if before else []
    return [item for item in after.get("history") or () if item not in old]


def entry_events(before: Mapping[str, Any] | None, after: Mapping[str, Any], now: str,
                 service_level_seconds: int | None = None) -> list[CallEvent]:  # fmt: skip
    a = after
    out = _Rows(f"entry:{a['tenant_id']}/{a['department_id']}/{a['id']}", int(a.get("revision", 1)), a["tenant_id"],
                now, call_sid=a.get("call_sid"), department_id=a.get("department_id"))  # fmt: skip
    if before is None:
        out.add("queue.joined", a.get("joined_at"), {"priority": int(a.get("priority", 50)), "position": None})
    if a.get("announced_at") and a.get("announced_at") != (before or {}).get("announced_at"):
        position = int(a.get("announced_position") or 0)
        out.add("queue.announced", a.get("announced_at"),
                {"position": position, "expected_wait_seconds": a.get("announced_wait")})
    for item in _new_history(before, a):
        event, at = item.get("event"), item.get("at")
        if event == "callbackRequested":
            out.add("callback.requested", at, {"number_hash": number_hash(str(item.get("number", "")))})
        elif event == "offered":
            for agent in item.get("agents") or ():
                out.add("queue.offered", at, {}, agent_id=str(agent))
        elif event in ("declined", "released"):
            agents = [item["agent"]] if item.get("agent") else list((before or {}).get("agent_ids") or ())
            reason = "declined" if event == "declined" else str(item.get("reason") or "no-answer")
            for agent in agents or [None]:
                out.add("queue.declined", at, {"reason": reason}, agent_id=agent)
        elif event == "connected":
            out.add("queue.answered", at, {"wait_seconds": int(a.get("wait_seconds") or 0),
                                           "service_level_seconds": service_level_seconds},
                    agent_id=item.get("agent"))  # fmt: skip
        elif event == "escalated" and not item.get("skipped"):
            action = str(item.get("action", ""))
            out.add("queue.escalated", at, {"action": _ACTIONS.get(action, action),
                                            "to_department": item.get("department")})  # fmt: skip
    status = a.get("status")
    if status in _CLOSED and (before is None or before.get("status") not in _CLOSED):
        at = a.get("closed_at")
        if status == "abandoned":
            out.add("queue.abandoned", at, {"wait_seconds": int(a.get("wait_seconds") or 0),
                                            "service_level_seconds": service_level_seconds})  # fmt: skip
        elif status in _LEFT:
            out.add("queue.left", at, {"outcome": _LEFT[status]})
        if a.get("kind") == "callback" and status in ("completed", "callbackFailed"):
            out.add("callback.completed", at, {"outcome": "completed" if status == "completed" else "failed",
                                               "attempts": len(a.get("callback_attempts") or ())})  # fmt: skip
    return out.rows


def agent_events(before: Mapping[str, Any] | None, after: Mapping[str, Any], now: str) -> list[CallEvent]:
    old = (before or {}).get("status", "offline")
    new = after.get("status", "offline")
    if old == new:
        return []
    out = _Rows(f"agent:{after['tenant_id']}/{after['id']}", int(after.get("revision", 1)), after["tenant_id"], now,
                agent_id=after["id"])  # fmt: skip
    out.add("agent.status_changed", after.get("status_since") or None, {"from_status": old, "to_status": new})
    return out.rows
