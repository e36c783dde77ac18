"""call.fallback over HTTP (common/web/voice.py): the caller hears the fallback at once, and the event
lands in the call's outbox afterwards, with the reason the contract names."""

from __future__ import annotations

import time
from typing import Any

import pytest
from livestack import ACCOUNT_A, DEMO_NUMBER, Stack

from common.adapters.ports import StoreUnavailable
from common.web import voice

SID = "CA" + "e" * 32
PARAMS = {"CallSid": SID, "AccountSid": ACCOUNT_A, "From": "+15550001234", "To": DEMO_NUMBER,
          "CallStatus": "in-progress", "Direction": "inbound"}  # fmt: skip


@pytest.fixture(autouse=True)
def no_recent_store_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as if the store had not failed lately (the window is per process)."""
    monkeypatch.setattr(voice, "_store_down_tried", float("-inf"))


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


def test_beside_a_failing_store_only_the_first_fallback_event_is_tried(
        events_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """An outage: every step fails with StoreUnavailable. Each caller hears the fallback at once; the
    call.fallback write is tried for the first of them in STORE_DOWN_SECONDS only, so the others do
    not each hold a worker until the store's deadline. After the window, the next one is tried."""
    outbox = events_stack.svc.events
    assert outbox is not None
    sids = ["CA" + c * 32 for c in "abc"]
    for sid in sids:
        ringing = {**PARAMS, "CallSid": sid, "CallStatus": "ringing"}
        assert events_stack.signed_post("/webhook/voice/incoming", ringing).status_code == 200
    now = [1000.0]
    monkeypatch.setattr(voice, "_clock", lambda: now[0])
    tried: list[str | None] = []
    real = outbox.record_fallback

    def spied(call_sid: str | None, reason: str, region: str | None = None) -> bool:
        tried.append(call_sid)
        return real(call_sid, reason, region)

    monkeypatch.setattr(outbox, "record_fallback", spied)

    def failing(*args: Any) -> str:
        raise StoreUnavailable("deadline exceeded")

    monkeypatch.setattr(events_stack.svc.calls, "step", failing)
    answers = []
    for sid in sids[:2]:
        answers.append(events_stack.signed_post("/webhook/voice/step?seq=1", {**PARAMS, "CallSid": sid, "Digits": "1"}))
        now[0] += 1.0
    now[0] += voice.STORE_DOWN_SECONDS
    answers.append(events_stack.signed_post("/webhook/voice/step?seq=1", {**PARAMS, "CallSid": sids[2], "Digits": "1"}))
    assert all(a.status_code == 200 and "<Hangup" in a.get_data(as_text=True) for a in answers)
    rows = fallbacks(events_stack, 2)
    assert sorted(r["call_sid"] for r in rows) == [sids[0], sids[2]]
    assert tried == [sids[0], sids[2]]


def test_a_step_that_gets_no_worker_thread_answers_the_fallback(events_stack: Stack,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """No thread to be had (a process limit): the caller hears the fallback, never a 500."""
    assert events_stack.signed_post("/webhook/voice/incoming", {**PARAMS, "CallStatus": "ringing"}).status_code == 200

    def no_thread(*args: Any) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(voice.pool, "submit", no_thread)
    answer = events_stack.signed_post("/webhook/voice/step?seq=1", {**PARAMS, "Digits": "1"})
    assert answer.status_code == 200 and "<Hangup" in answer.get_data(as_text=True)
    [row] = fallbacks(events_stack, 1)  # recorded on a detached job, which still has its threads
    assert row["data"]["reason"] == "worker_error"
