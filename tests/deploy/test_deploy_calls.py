"""Deployments seen from a caller: version pinning, rollback, and the open/closed switch at the boundary."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.deploy.conftest import ACCOUNT_A, BASE, BUSINESS_HOURS, TENANT_A, DeployStack, example
from tests.deploy.test_pipeline import NUMBER, change_greeting, publish

ACCOUNT = ACCOUNT_A


def webhook(stack: DeployStack, url: str, params: dict[str, str]) -> str:
    url = url.split("#", 1)[0]
    signature = stack.caller().sign(url, params)
    status, body = stack.post(url, params, {"X-Twilio-Signature": signature})
    assert status == 200, body
    return body


def start(stack: DeployStack, sid: str) -> str:
    return webhook(stack, f"{BASE}/webhook/voice/incoming",
                   {"CallSid": sid, "AccountSid": ACCOUNT, "From": "+15005550006", "To": NUMBER})  # fmt: skip


def action_of(twiml: str) -> str:
    found = re.search(r'action="([^"]+)"', twiml)
    assert found, twiml
    return found.group(1).replace("&amp;", "&")


def deploy(stack: DeployStack, version: str) -> None:
    status, body = stack.api("POST", "/api/flows/support_line/deploy", {"phoneNumbers": [NUMBER], "version": version})
    assert status == 200, body


def test_a_call_finishes_on_the_version_it_started_with(stack: DeployStack) -> None:
    change_greeting(stack, "Greeting one.")
    assert publish(stack, "1.1.0")[0] == 201
    deploy(stack, "1.1.0")
    first = start(stack, "CA" + "1" * 32)
    assert "Greeting one." in first

    flow = example("support_line")
    flow["nodes"][1]["data"]["text"] = "Greeting two."
    flow["nodes"][3]["data"]["rules"][0]["value"] = ["1", "sales", "buy"]
    flow["nodes"][4]["data"]["message"] = "Version two connects you to sales."
    assert stack.api("PUT", "/api/flows/support_line", flow)[0] == 200
    assert publish(stack, "2.0.0")[0] == 201
    deploy(stack, "2.0.0")  # while the first call waits at the menu

    reply = webhook(stack, action_of(first), {"CallSid": "CA" + "1" * 32, "AccountSid": ACCOUNT, "Digits": "1"})
    assert "Connecting you to sales." in reply and "Version two" not in reply
    record = stack.svc.store.read_call("CA" + "1" * 32)
    assert record is not None and record[0].flow_version == "1.1.0"

    assert "Greeting two." in start(stack, "CA" + "2" * 32)

    status, body = stack.api("POST", "/api/flows/support_line/rollback", {"phoneNumbers": [NUMBER]})
    assert status == 200 and body["version"] == "1.1.0"
    assert "Greeting one." in start(stack, "CA" + "3" * 32)


def setup_schedule_deploy(stack: DeployStack) -> None:
    assert stack.api("PUT", "/api/schedules/business_hours", BUSINESS_HOURS)[0] == 200
    assert (
        stack.api("PUT", "/api/flows/agent_transfer", example("after_hours_voicemail", id="agent_transfer"))[0] == 200
    )
    assert publish(stack, "1.0.0", "agent_transfer")[0] == 201
    status, body = stack.api("POST", "/api/flows/support_line/deploy", {
        "environment": "production", "phoneNumbers": [NUMBER], "schedules": ["business_hours"],
        "fallbackFlow": "agent_transfer", "version": "1.0.0"})  # fmt: skip
    assert status == 200, body


@pytest.mark.parametrize(("local", "served"), [
    # New York, EST (UTC-5) on these dates. Business hours 09:00-17:00 on weekdays.
    ("2026-11-24T08:59:59", "closed"),
    ("2026-11-24T09:00:00", "open"),
    ("2026-11-24T16:59:59", "open"),
    ("2026-11-24T17:00:00", "closed"),
    ("2026-11-26T10:00:00", "closed"),  # Thanksgiving, 4th Thursday of November
    ("2026-11-28T10:00:00", "closed"),  # Saturday
])  # fmt: skip
def test_the_number_switches_between_flow_and_fallback_at_the_boundary(stack: DeployStack, local: str,
                                                                       served: str) -> None:  # fmt: skip
    setup_schedule_deploy(stack)
    stack.clock.at = datetime.fromisoformat(local + "-05:00").astimezone(UTC)
    twiml = start(stack, "CA" + "4" * 32)
    record = stack.svc.store.read_call("CA" + "4" * 32)
    assert record is not None
    if served == "open":
        assert "Thanks for calling Acme." in twiml and record[0].flow_id == "support_line"
    else:
        # The fallback flow's own hoursNode reads the same schedule and takes its closed branch.
        assert "Our office is closed." in twiml and record[0].flow_id == "agent_transfer"
    routed = record[0].events[0]
    assert routed["type"] == "call.routed" and routed["data"]["reason"] == f"schedule_{served}"


def test_a_deleted_schedule_counts_as_closed(stack: DeployStack) -> None:
    setup_schedule_deploy(stack)
    # Deleting an in-use schedule is refused by the API, so remove it behind the API's back.
    stack.svc.store.delete_schedule(TENANT_A, "business_hours")
    assert "Our office is closed." in start(stack, "CA" + "5" * 32)


def test_hours_node_reads_the_tenants_schedule_during_a_call(stack: DeployStack) -> None:
    assert stack.api("PUT", "/api/schedules/business_hours", BUSINESS_HOURS)[0] == 200
    assert stack.api("PUT", "/api/flows/after_hours_voicemail", example("after_hours_voicemail"))[0] == 200
    status, _ = stack.api("POST", "/api/flows/after_hours_voicemail/deploy", {"phoneNumbers": [NUMBER]})
    assert status == 200
    stack.clock.at = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 10:00 in New York: open
    assert "demo.front_desk" in start(stack, "CA" + "6" * 32)
    stack.clock.at = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # 18:00: closed
    assert "Our office is closed." in start(stack, "CA" + "7" * 32)
