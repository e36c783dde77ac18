"""The outbox wired into the call service: every state change writes its rows with it, the
dispatcher publishes them after the answer and acknowledges, and nothing about events can change
what Twilio gets."""

from __future__ import annotations

from typing import Any

import pytest
from event_scripts import SALES, SALES_TYPES
from livestack import DEMO_NUMBER, Stack, build_stack

from common import bootstrap
from common.adapters.events_sinks import MemoryPublisher
from common.adapters.memory import MemoryStore
from common.core.events import CallEvent


def publisher(stack: Stack) -> MemoryPublisher:
    assert stack.svc.events is not None
    found = stack.svc.events.publisher
    assert isinstance(found, MemoryPublisher)
    return found


def drained(stack: Stack) -> MemoryPublisher:
    assert stack.svc.events is not None
    stack.svc.events.drain()
    return publisher(stack)


def transcript_without_events(inputs: list[str], **kwargs: Any) -> list[str]:
    plain = build_stack(MemoryStore())
    try:
        assert plain.svc.events is None  # IVR_EVENTS unset and no topic: off
        return plain.call(DEMO_NUMBER, inputs, **kwargs).transcript
    finally:
        bootstrap.install(None)


def test_a_call_exports_its_events_once_and_leaves_an_empty_outbox(events_stack: Stack) -> None:
    result = events_stack.call(DEMO_NUMBER, SALES)
    rows = drained(events_stack).rows
    assert [r["type"] for r in rows] == SALES_TYPES
    assert len({r["event_id"] for r in rows}) == len(rows)
    for row in rows:  # every row is a valid contract row
        CallEvent.model_validate(row)
    completed = rows[-1]
    assert completed["billable_seconds"] is not None and completed["call_sid"] == result.call_sid
    assert completed["data"]["end_reason"] == "hangup_node" and completed["data"]["ended_at_node"] == "bye"
    assert completed["data"]["webhook_steps"] == 4  # incoming, the menu's answer, the queue result, status
    stored = events_stack.stored(result.call_sid)
    assert stored.outbox == [] and stored.outbox_since is None
    assert stored.event_cursor["count"] == len(rows)


def test_replayed_and_concurrent_webhooks_export_the_same_events(events_stack: Stack) -> None:
    once = events_stack.call(DEMO_NUMBER, SALES)
    first = [(r["type"], r["node_id"]) for r in drained(events_stack).rows]
    publisher(events_stack).rows.clear()
    again = events_stack.call(DEMO_NUMBER, SALES, replays=2, concurrent_replays=2)
    assert again.transcript == once.transcript
    unique = drained(events_stack).unique()
    assert [(r["type"], r["node_id"]) for r in unique.values()] == first  # duplicates write nothing twice


def test_a_failing_publisher_changes_nothing_the_caller_hears_and_keeps_the_events(events_stack: Stack) -> None:
    publisher(events_stack).fail = True
    result = events_stack.call(DEMO_NUMBER, SALES)
    assert result.transcript == transcript_without_events(SALES)
    stored = events_stack.stored(result.call_sid)
    assert drained(events_stack).rows == []
    assert [r["type"] for r in stored.outbox] == SALES_TYPES and stored.outbox_since is not None
    publisher(events_stack).fail = False
    assert events_stack.svc.events is not None
    swept = events_stack.svc.events.sweep(older_than_seconds=0)
    assert swept["republished"] == len(SALES_TYPES) and swept["calls"] == 1
    assert events_stack.stored(result.call_sid).outbox == []
    assert events_stack.svc.events.sweep(older_than_seconds=0)["republished"] == 0  # nothing left: idempotent
    assert [r["type"] for r in publisher(events_stack).unique().values()] == SALES_TYPES


def test_derivation_that_raises_changes_nothing_the_caller_hears(events_stack: Stack,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import common.service.event_outbox as outbox

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in derivation")

    monkeypatch.setattr(outbox, "derive", broken)
    result = events_stack.call(DEMO_NUMBER, SALES)
    assert result.transcript == transcript_without_events(SALES)
    assert all(e.status == 200 for e in result.exchanges)
    stored = events_stack.stored(result.call_sid)
    assert stored.status == "ended" and stored.outbox == []


def test_an_acknowledgement_between_a_steps_read_and_write_does_not_lose_the_turn(events_stack: Stack) -> None:
    store = events_stack.store
    real_read = store.read_call
    raced: list[str] = []

    def read_then_acknowledged(sid: str) -> Any:
        found = real_read(sid)
        if found is not None and not raced and found[0].seq == 1:
            raced.append(sid)  # the dispatcher's acknowledgement lands right after this read
            assert store.update_outbox(sid, [], found[1]) is not None
        return found

    store.read_call = read_then_acknowledged
    result = events_stack.call(DEMO_NUMBER, SALES)
    store.read_call = real_read
    assert raced and result.transcript == transcript_without_events(SALES)
    stored = events_stack.stored(result.call_sid)
    assert stored.outcome == "hangup_node" and stored.seq == 3
    assert [r["type"] for r in drained(events_stack).unique().values()][-1] == "call.completed"
