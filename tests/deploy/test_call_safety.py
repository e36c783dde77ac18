"""Hardening found in review: what an API answers, who may replay a call, where failures send callers."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from common.adapters.memory import MemoryStore
from common.core import twiml
from tests.deploy.conftest import (
    ACCOUNT_A,
    ACCOUNT_B,
    BASE,
    BUSINESS_HOURS,
    DEMO_NUMBER,
    TENANT_B,
    TOKEN_B,
    DeployStack,
    example,
    make_stack,
)
from tests.deploy.test_pipeline import publish

NUMBER = DEMO_NUMBER
ACCOUNT = ACCOUNT_A


class RecordingFetcher:
    def __init__(self, status: int = 200, body: str = "{}") -> None:
        self.status, self.body = status, body
        self.headers: list[dict[str, str]] = []

    def fetch(self, method: str, url: str, headers: dict[str, str], body: str | None,
              timeout: float) -> tuple[int, str, str | None]:  # fmt: skip
        self.headers.append(dict(headers))
        return self.status, self.body, None


def send(stack: DeployStack, url: str, params: dict[str, str], token: str | None = None,
         account: str | None = None) -> tuple[int, str]:  # fmt: skip
    url = url.split("#", 1)[0]
    signature = stack.caller(account, token).sign(url, params)
    return stack.post(url, params, {"X-Twilio-Signature": signature})


def action_of(document: str) -> str:
    found = re.search(r'(?:action="|<Redirect method="POST">)([^"<]+)', document)
    assert found, document
    return found.group(1).replace("&amp;", "&")


@pytest.fixture
def lookup_stack() -> DeployStack:
    fetcher = RecordingFetcher(200, json.dumps({"status": "active", "name": "Zo\u0001e\u000b", "balance": "7"}))
    stack = make_stack(MemoryStore(), fetcher)
    assert stack.api("PUT", "/api/flows/account_lookup", example("account_lookup"))[0] == 200
    assert stack.api("POST", "/api/flows/account_lookup/deploy", {"phoneNumbers": [NUMBER]})[0] == 200
    return stack


def test_control_characters_from_an_api_never_reach_twilio(lookup_stack: DeployStack) -> None:
    sid = "CA" + "d" * 32
    base = {"CallSid": sid, "AccountSid": ACCOUNT, "From": "+15005550006", "To": NUMBER}
    status, first = send(lookup_stack, f"{BASE}/webhook/voice/incoming", base)
    assert status == 200
    status, redirect = send(lookup_stack, action_of(first), {**base, "Digits": "1234567"})
    status, spoken = send(lookup_stack, action_of(redirect), base)
    assert status == 200 and twiml.check(spoken) == []
    assert "Hello Zoe. Your balance is 7 dollars." in spoken


def test_http_node_requests_carry_an_idempotency_key_per_turn(lookup_stack: DeployStack) -> None:
    sid = "CA" + "e" * 32
    base = {"CallSid": sid, "AccountSid": ACCOUNT, "From": "+15005550006", "To": NUMBER}
    _, first = send(lookup_stack, f"{BASE}/webhook/voice/incoming", base)
    _, redirect = send(lookup_stack, action_of(first), {**base, "Digits": "1234567"})
    send(lookup_stack, action_of(redirect), base)
    fetcher = lookup_stack.svc.calls.fetcher
    assert isinstance(fetcher, RecordingFetcher)
    assert [h["Idempotency-Key"] for h in fetcher.headers] == [f"{sid}-3"]
    assert fetcher.headers[0]["Accept"] == "application/json"  # the node's own headers still go


def test_another_account_cannot_replay_an_incoming_call(stack: DeployStack) -> None:
    sid = "CA" + "f" * 32
    params = {"CallSid": sid, "AccountSid": ACCOUNT, "From": "+15005550006", "To": NUMBER}
    status, mine = send(stack, f"{BASE}/webhook/voice/incoming", params)
    assert status == 200
    assert stack.api("POST", "/api/numbers", {"phoneNumber": "+14155550111"}, tenant=TENANT_B)[0] == 201
    assert stack.api("PUT", "/api/flows/support_line", example("support_line"), tenant=TENANT_B)[0] == 200
    assert (
        stack.api("POST", "/api/flows/support_line/deploy", {"phoneNumbers": ["+14155550111"]}, tenant=TENANT_B)[0]
        == 200
    )
    stolen = {**params, "AccountSid": ACCOUNT_B, "To": "+14155550111"}
    status, body = send(stack, f"{BASE}/webhook/voice/incoming", stolen, TOKEN_B, ACCOUNT_B)
    assert status == 403 and "Thanks for calling" not in body
    status, again = send(stack, f"{BASE}/webhook/voice/incoming", params)  # the real retry still replays
    assert (status, again) == (200, mine)


def test_a_store_failure_sends_the_caller_to_the_numbers_own_fallback(stack: DeployStack) -> None:
    assert stack.api("POST", "/api/numbers", {"phoneNumber": "+13072240001", "fallbackDial": "+13125550100"})[0] == 201
    assert stack.api("POST", "/api/flows/support_line/deploy", {"phoneNumbers": ["+13072240001"]})[0] == 200
    params = {"CallSid": "CA" + "9" * 32, "AccountSid": ACCOUNT, "From": "+15005550006", "To": "+13072240001"}
    status, first = send(stack, f"{BASE}/webhook/voice/incoming", params)
    assert status == 200

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("store unavailable")

    stack.svc.store.read_call = broken  # type: ignore[method-assign]
    status, body = send(stack, action_of(first), {**params, "Digits": "1"})
    assert status == 200 and "<Dial" in body and "+13125550100" in body and twiml.check(body) == []


def test_schedules_read_by_running_flows_cannot_be_deleted_and_rollback_rechecks_them(stack: DeployStack) -> None:
    assert stack.api("PUT", "/api/schedules/business_hours", BUSINESS_HOURS)[0] == 200
    assert stack.api("PUT", "/api/flows/after_hours_voicemail", example("after_hours_voicemail"))[0] == 200
    assert stack.api("POST", "/api/flows/after_hours_voicemail/deploy", {"phoneNumbers": [NUMBER]})[0] == 200
    status, body = stack.api("DELETE", "/api/schedules/business_hours")
    assert status == 409 and "hoursNode" in body["error"]["message"]

    # A gated deployment, replaced, then its schedule deleted: rolling back to it is refused.
    assert stack.api("PUT", "/api/schedules/weekends", BUSINESS_HOURS)[0] == 200
    assert stack.api("PUT", "/api/flows/agent_transfer", example("support_line", id="agent_transfer"))[0] == 200
    assert publish(stack, "1.0.0", "agent_transfer")[0] == 201
    gated = {"phoneNumbers": [NUMBER], "version": "1.0.0", "schedules": ["weekends"], "fallbackFlow": "agent_transfer"}
    assert stack.api("POST", "/api/flows/support_line/deploy", gated)[0] == 200
    assert stack.api("POST", "/api/flows/support_line/deploy", {"phoneNumbers": [NUMBER], "version": "1.0.0"})[0] == 200
    assert stack.api("DELETE", "/api/schedules/weekends")[0] == 200
    status, body = stack.api("POST", "/api/flows/support_line/rollback", {"phoneNumbers": [NUMBER]})
    assert status == 422 and "schedule 'weekends' does not exist" in body["error"]["message"]


def test_a_body_without_content_length_is_bounded_too(stack: DeployStack) -> None:
    big = b"CallSid=CA1&AccountSid=" + ACCOUNT_A.encode() + b"&Pad=" + b"x" * (70 * 1024)
    before = stack.svc.store.writes  # type: ignore[attr-defined]
    reply = stack.client.post(
        "/webhook/voice/incoming", input_stream=__import__("io").BytesIO(big),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "x", "Transfer-Encoding": "chunked"},
        environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True},
    )  # fmt: skip
    assert reply.status_code == 411
    assert stack.svc.store.writes == before  # type: ignore[attr-defined]


def test_execute_reads_a_clock_without_offset_as_utc(stack: DeployStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # a server-local reading would be 9 hours off
    time.tzset()
    try:
        flow = {"id": "clock", "name": "Clock", "settings": {"timezone": "America/New_York"},
                "nodes": [{"id": "s", "type": "startNode", "data": {}},
                          {"id": "t", "type": "hangupNode", "data": {"message": "It is {{ now.time }}."}}],
                "edges": [{"id": "e", "source": "s", "target": "t"}]}  # fmt: skip
        assert stack.api("PUT", "/api/flows/clock", flow)[0] == 200
        status, body = stack.api("POST", "/api/flows/clock/execute", {"now": "2026-01-05T15:00:00"})
        assert status == 200 and body["transcript"][0]["text"] == "It is 10:00."
    finally:
        monkeypatch.undo()
        time.tzset()
