"""call.fallback: recorded in the call's outbox after the caller heard the fallback, when the call
record can be written (``EventOutbox.record_fallback``); with no record, or the store down, it is
only logged."""

from __future__ import annotations

import logging

import pytest
from livestack import ACCOUNT_A, DEMO_NUMBER, Stack

from common.adapters.ports import StoreUnavailable
from common.core.events import CallEvent

SID = "CA" + "f" * 32


def incoming(stack: Stack) -> None:
    params = {"CallSid": SID, "AccountSid": ACCOUNT_A, "From": "+15550001234", "To": DEMO_NUMBER,
              "CallStatus": "ringing", "Direction": "inbound"}  # fmt: skip
    assert stack.signed_post("/webhook/voice/incoming", params).status_code == 200


def test_a_fallback_is_one_event_at_the_node_the_caller_was_at(events_stack: Stack) -> None:
    outbox = events_stack.svc.events
    assert outbox is not None
    incoming(events_stack)
    outbox.drain()
    before = len(outbox.publisher.rows)
    waiting_at = events_stack.stored(SID).event_cursor["node"]
    assert waiting_at and outbox.record_fallback(SID, "worker_timeout", "us-east1")
    outbox.drain()
    rows = outbox.publisher.rows[before:]
    assert [(r["type"], r["node_id"], r["data"]) for r in rows] == [
        ("call.fallback", waiting_at, {"reason": "worker_timeout", "region": "us-east1"})]
    CallEvent.model_validate(rows[0])
    stored = events_stack.stored(SID)
    assert stored.outbox == [] and stored.event_cursor["count"] == rows[0]["event_index"] + 1
    assert outbox.record_fallback(SID, "worker_error")  # a second one: the next index, its own id
    outbox.drain()
    again = outbox.publisher.rows[-1]
    assert again["event_index"] == rows[0]["event_index"] + 1 and again["event_id"] != rows[0]["event_id"]
    assert again["data"] == {"reason": "worker_error", "region": None}


def test_without_a_call_record_or_a_store_it_is_only_logged(events_stack: Stack, caplog: pytest.LogCaptureFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    outbox = events_stack.svc.events
    assert outbox is not None
    with caplog.at_level(logging.WARNING, logger="ivr.events"):
        assert not outbox.record_fallback("CA" + "0" * 32, "fallback_url")  # the call never started
        assert not outbox.record_fallback(None, "fallback_url")
        incoming(events_stack)

        def down(call_sid: str) -> None:
            raise StoreUnavailable("Firestore did not answer read_call")

        monkeypatch.setattr(events_stack.store, "read_call", down)
        assert not outbox.record_fallback(SID, "store_unavailable")
    outbox.drain()
    assert not any(r["type"] == "call.fallback" for r in outbox.publisher.rows)
    assert sum("call.fallback" in r.getMessage() for r in caplog.records) == 2
