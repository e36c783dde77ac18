"""Calls whose status callback never arrives are finalised by the sweep, and only those."""

from __future__ import annotations

from datetime import timedelta

from tests.deploy.conftest import ACCOUNT_A, BASE, DEMO_NUMBER, DeployStack


def signed_incoming(stack: DeployStack, sid: str) -> None:
    params = {"CallSid": sid, "AccountSid": ACCOUNT_A, "From": "+15005550006", "To": DEMO_NUMBER}
    url = f"{BASE}/webhook/voice/incoming"
    status, _ = stack.post(url, params, {"X-Twilio-Signature": stack.caller().sign(url, params)})
    assert status == 200


def test_sweep_expires_only_calls_past_their_ttl(stack: DeployStack) -> None:
    signed_incoming(stack, "CA" + "a" * 32)
    stack.clock.at += timedelta(hours=5)
    signed_incoming(stack, "CA" + "b" * 32)
    assert stack.svc.calls.expire_stale() == 0
    stack.clock.at += timedelta(hours=1, seconds=1)  # the first call is now 6 h old: past IVR_CALL_TTL_HOURS
    assert stack.svc.calls.expire_stale() == 1
    old = stack.svc.store.read_call("CA" + "a" * 32)
    young = stack.svc.store.read_call("CA" + "b" * 32)
    assert old is not None and young is not None
    assert (old[0].status, old[0].outcome) == ("ended", "expired")
    assert young[0].status == "active"
    assert stack.svc.calls.expire_stale() == 0  # idempotent


def test_a_finalised_call_is_never_expired(stack: DeployStack) -> None:
    signed_incoming(stack, "CA" + "c" * 32)
    params = {"CallSid": "CA" + "c" * 32, "AccountSid": ACCOUNT_A, "CallStatus": "completed",
              "CallDuration": "42"}  # fmt: skip
    url = f"{BASE}/webhook/voice/status"
    assert stack.post(url, params, {"X-Twilio-Signature": stack.caller().sign(url, params)})[0] == 200
    stack.clock.at += timedelta(days=1)
    assert stack.svc.calls.expire_stale() == 0
    record = stack.svc.store.read_call("CA" + "c" * 32)
    assert record is not None and (record[0].duration_seconds, record[0].call_status) == (42, "completed")
    assert record[0].events[-1]["data"]["billable_seconds"] == 42
