"""Queue and agent events: department routing's commits, each revision compared with the stored one
(common/core/queue_events.py) by the eventing routing store the bootstrap wires when events are on."""

from __future__ import annotations

from collections import Counter

from callkit import attach
from livestack import ACCOUNT_A, TENANT_A, TOKEN_A, Stack, deploy, transport

from common.adapters.routing_store import MemoryRoutingStore
from common.callsim import TwilioCallSimulator
from common.core.events import CallEvent
from common.core.queue_events import agent_events, entry_events, number_hash
from common.service.queue_events_store import EventingRoutingStore

NUMBER = "+13072240077"
FLOW = {"id": "to_sales", "name": "To sales", "settings": {"language": "en-US"}, "nodes": [
    {"id": "start", "type": "startNode", "data": {}},
    {"id": "queue", "type": "transferNode", "data": {"message": "Please hold.", "target": {
        "type": "department", "department": "sales", "priority": "normal"}}},
    {"id": "bye", "type": "hangupNode", "data": {"message": "Goodbye."}},
    {"id": "sorry", "type": "hangupNode", "data": {"message": "Sorry."}}],
    "edges": [{"id": "e1", "source": "start", "target": "queue"},
              {"id": "e2", "source": "queue", "sourceHandle": "completed", "target": "bye"},
              *({"id": f"q-{o}", "source": "queue", "sourceHandle": o, "target": "sorry"} for o in
                ("timeout", "callbackRequested", "voicemail", "closed", "noAgents", "busy", "failed"))]}  # fmt: skip


def test_a_routed_call_exports_its_queue_and_agent_events(events_stack: Stack) -> None:
    outbox = events_stack.svc.events
    assert outbox is not None
    store = EventingRoutingStore(MemoryRoutingStore(), outbox)
    routed = attach(events_stack, store)
    routed.department("sales", ringTimeoutSeconds=20)
    routed.agent("ann", "sales", contact="+15552220001")
    deploy(events_stack.svc, events_stack.svc.admin.authenticate("Bearer ivr_dev_demo_key_not_secret"), FLOW, NUMBER)
    sim = TwilioCallSimulator("https://ivr.example.test", TOKEN_A, ACCOUNT_A, post=transport(events_stack.app))
    result = sim.call(NUMBER, "+15550001234", ["agent:no-answer", "agent:answer:30"], advance=routed.advance)
    assert result.problems == [] and all(e.status == 200 for e in result.exchanges)
    outbox.drain()
    rows = outbox.publisher.unique()
    for row in rows.values():
        CallEvent.model_validate(row)
    queue = [r for r in rows.values() if r["type"].startswith(("queue.", "agent."))]
    types = Counter(r["type"] for r in queue)
    assert types["queue.joined"] == 1 and types["queue.answered"] == 1
    assert types["queue.offered"] == 2 and types["queue.declined"] == 1  # no answer, then answered
    declined = next(r for r in queue if r["type"] == "queue.declined")
    assert declined["agent_id"] == "ann" and declined["data"]["reason"] != ""
    answered = next(r for r in queue if r["type"] == "queue.answered")
    assert answered["agent_id"] == "ann" and answered["call_sid"] == result.call_sid
    assert answered["department_id"] == "sales"
    assert any(r["type"] == "agent.status_changed" and r["data"]["to_status"] == "busy" for r in queue)
    assert answered["data"]["service_level_seconds"] == 30  # the department's target (the default)
    assert store.outboxes_since(outbox.now(), 100) == []  # every routing outbox acknowledged
    assert len(outbox.publisher.rows) == len(rows)  # nothing published twice


def entry(revision: int, **changes: object) -> dict[str, object]:
    base: dict[str, object] = {"tenant_id": TENANT_A, "department_id": "sales", "id": "e1", "call_sid": "CA1",
                               "status": "waiting", "priority": 50, "joined_at": "2026-01-05T15:00:00+00:00",
                               "history": [], "revision": revision, "kind": "call"}  # fmt: skip
    return {**base, **changes}


def test_each_change_of_an_entry_is_one_event_with_a_stable_id() -> None:
    now = "2026-01-05T15:10:00+00:00"
    joined = entry_events(None, entry(1), now)
    assert [e.type for e in joined] == ["queue.joined"]
    asked = entry(2, kind="callback", history=[{"at": now, "event": "callbackRequested", "number": "+15551234567"}])
    [requested] = entry_events(entry(1), asked, now)
    assert requested.type == "callback.requested" and requested.data == {"number_hash": number_hash("+15551234567")}
    assert "+15551234567" not in str(requested.row())
    failed = entry(3, kind="callback", status="callbackFailed", closed_at=now,
                   callback_attempts=({"a": 1}, {"a": 2}), history=asked["history"])  # fmt: skip
    [done] = entry_events(asked, failed, now)
    assert (done.type, done.data) == ("callback.completed", {"outcome": "failed", "attempts": 2})
    assert entry_events(asked, failed, now)[0].event_id == done.event_id  # derived again: the same id
    escalated = entry(2, history=[{"at": now, "event": "escalated", "action": "maxWait"}], status="timeout",
                      closed_at=now)  # fmt: skip
    assert [(e.type, e.data) for e in entry_events(entry(1), escalated, now)] == [
        ("queue.escalated", {"action": "timeout", "to_department": None}), ("queue.left", {"outcome": "timeout"})]
    abandoned = entry(2, status="abandoned", wait_seconds=42, closed_at=now)
    assert [(e.type, e.data) for e in entry_events(entry(1), abandoned, now)] == [
        ("queue.abandoned", {"wait_seconds": 42, "service_level_seconds": None})]
    assert entry_events(abandoned, entry(3, status="abandoned", wait_seconds=42, closed_at=now), now) == []


def test_an_agent_status_change_is_one_event() -> None:
    agent = {"tenant_id": TENANT_A, "id": "ann", "status": "available", "revision": 4, "status_since": ""}
    [changed] = agent_events({**agent, "revision": 3, "status": "away"}, agent, "2026-01-05T15:00:00+00:00")
    assert (changed.type, changed.agent_id, changed.data) == (
        "agent.status_changed", "ann", {"from_status": "away", "to_status": "available"})
    assert agent_events(agent, {**agent, "revision": 5}, "2026-01-05T15:00:00+00:00") == []
