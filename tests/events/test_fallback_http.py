"""call.fallback over HTTP (common/web/voice.py): the caller hears the fallback at once, and the event
lands in the call's outbox afterwards, with the reason the contract names."""

from __future__ import annotations

import time
from typing import Any

import pytest
from livestack import ACCOUNT_A, DEMO_NUMBER, Stack

from common.adapters.ports import StoreUnavailable

SID = "CA" + "e" * 32
PARAMS = {"CallSid": SID, "AccountSid": ACCOUNT_A, "From": "+15550001234", "To": DEMO_NUMBER,
          "CallStatus": "in-progress", "Direction": "inbound"}  # fmt: skip


def fallbacks(stack: Stack, count: int) -> list[dict[str, Any]]:
    """The call.fallback rows published, once ``count`` arrived (the event is written after the answer)."""
    outbox = stack.svc.events
    assert outbox is not None
    stop = time.monotonic() + 5
    while time.monotonic() < stop:
        outbox.drain()
        found = [r for r in outbox.publisher.rows if r["type"] == "call.fallback"]
        if len(found) >= count:
            return found
        time.sleep(0.01)
    raise AssertionError(f"expected {count} call.fallback events")


def test_the_fallback_url_records_its_reason_and_region(events_stack: Stack) -> None:
    assert events_stack.signed_post("/webhook/voice/incoming", {**PARAMS, "CallStatus": "ringing"}).status_code == 200
    answer = events_stack.signed_post("/webhook/voice/fallback/us-east1", PARAMS)
    assert answer.status_code == 200 and "<Say" in answer.get_data(as_text=True)
    [row] = fallbacks(events_stack, 1)
    assert row["call_sid"] == SID and row["data"] == {"reason": "fallback_url", "region": "us-east1"}


@pytest.mark.parametrize(("error", "reason"), [(RuntimeError("bug"), "worker_error"),
                                               (StoreUnavailable("down"), "store_unavailable")])  # fmt: skip
def test_a_failed_step_records_why(events_stack: Stack, monkeypatch: pytest.MonkeyPatch, error: Exception,
                                   reason: str) -> None:  # fmt: skip
    assert events_stack.signed_post("/webhook/voice/incoming", {**PARAMS, "CallStatus": "ringing"}).status_code == 200

    def failing(*args: Any) -> str:
        raise error

    monkeypatch.setattr(events_stack.svc.calls, "step", failing)
    answer = events_stack.signed_post("/webhook/voice/step?seq=1", {**PARAMS, "Digits": "1"})
    assert answer.status_code == 200 and "<Hangup" in answer.get_data(as_text=True)
    [row] = fallbacks(events_stack, 1)
    assert row["data"]["reason"] == reason and row["call_sid"] == SID


def test_without_a_call_record_the_fallback_is_only_logged(events_stack: Stack) -> None:
    answer = events_stack.signed_post("/webhook/voice/fallback", PARAMS)  # the call never started
    assert answer.status_code == 200
    time.sleep(0.2)
    events_stack.svc.events.drain()
    assert not any(r["type"] == "call.fallback" for r in events_stack.svc.events.publisher.rows)
