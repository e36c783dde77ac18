"""Whole calls over HTTP: the Twilio-like call simulator (common/callsim.py) against the function apps,
for every example flow and every node outcome reachable in it, on both stores.

Each call checks what the caller hears (the transcript, exactly) and what is stored once the status
callback has arrived (status ended, Twilio's final status, the outcome and the path through the flow).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from livestack import (
    AFTER_HOURS_NUMBER,
    CLOSED_AT,
    DEMO_NUMBER,
    LOOKUP_NUMBER,
    OPEN_AT,
    Stack,
    problems_in,
)  # fmt: skip

from common.callsim import CallResult

RECORDING = "https://api.twilio.com/2010-04-01/Accounts/ACa/Recordings/RE1"
REC = f"record:{RECORDING}:20"

MENU = "IVR: For sales, press 1 or say sales. For support, press 2 or say support."
HELLO = ["IVR: Thanks for calling Acme.", MENU]
BYE = ["IVR: Thanks for calling Acme. Goodbye.", "IVR hangs up"]
NO_INPUT = "IVR: Sorry, I didn't hear anything."
NO_MATCH = "IVR: Sorry, that is not one of the options."
GIVE_UP = ["IVR: Sorry we could not help you today. Please call again. Goodbye.", "IVR hangs up"]
BUSY = "IVR: Sorry, everyone is busy. Please leave a message after the tone."
THANKS = ["IVR: Thank you. We will call you back soon. Goodbye.", "IVR hangs up"]
DEFAULT_NO_INPUT = "IVR: Sorry, I didn't get that."  # flows without a noInputMessage
DEFAULT_NO_MATCH = "IVR: Sorry, that is not a valid choice."
NO_MESSAGE = ["IVR: We did not receive a message. Goodbye.", "IVR hangs up"]


def run(stack: Stack, number: str, inputs: list[str]) -> tuple[CallResult, Any]:
    """Place the call; every webhook answered 200 with valid TwiML; return it and the stored call."""
    result = stack.call(number, inputs)
    assert result.problems == [], result.problems
    for exchange in result.exchanges:
        assert exchange.status == 200, (exchange.url, exchange.body)
        if not exchange.url.endswith("/webhook/voice/status"):
            assert problems_in(exchange.body) == [], exchange.body
    record = stack.stored(result.call_sid)
    assert record.status == "ended"
    assert record.call_status == "completed"
    return result, record


# -- support_line -----------------------------------------------------------------------------------

SUPPORT_LINE = {
    "sales by DTMF, answered": (
        ["1", "queue:bridged"],
        [*HELLO, "CALLER presses 1", "IVR: Connecting you to sales.", "waits in queue demo.sales: bridged", *BYE],
        ["start", "greeting", "menu", "route", "to_sales", "bye"], "hangup_node"),
    "support by DTMF, answered": (
        ["2", "queue:bridged"],
        [*HELLO, "CALLER presses 2", "IVR: Connecting you to support.", "waits in queue demo.support: bridged",
         *BYE],
        ["start", "greeting", "menu", "route", "to_support", "bye"], "hangup_node"),
    "sales by speech": (
        ["speech:Sales.", "queue:bridged"],
        [*HELLO, 'CALLER says "Sales."', "IVR: Connecting you to sales.", "waits in queue demo.sales: bridged",
         *BYE],
        ["start", "greeting", "menu", "route", "to_sales", "bye"], "hangup_node"),
    "support by speech": (
        ["speech:Support, please.", "queue:bridged"],
        [*HELLO, 'CALLER says "Support, please."', "IVR: Connecting you to support.",
         "waits in queue demo.support: bridged", *BYE],
        ["start", "greeting", "menu", "route", "to_support", "bye"], "hangup_node"),
    "noInput three times": (
        ["silence", "silence", "silence"],
        [*HELLO, "CALLER (silence)", NO_INPUT, MENU, "CALLER (silence)", NO_INPUT, MENU, "CALLER (silence)",
         *GIVE_UP],
        ["start", "greeting", "menu", "give_up"], "hangup_node"),
    "noMatch three times": (
        ["7", "speech:Billing.", "9"],
        [*HELLO, "CALLER presses 7", NO_MATCH, MENU, 'CALLER says "Billing."', NO_MATCH, MENU, "CALLER presses 9",
         *GIVE_UP],
        ["start", "greeting", "menu", "give_up"], "hangup_node"),
    "silence, then a valid choice": (
        ["silence", "2", "queue:bridged"],
        [*HELLO, "CALLER (silence)", NO_INPUT, MENU, "CALLER presses 2", "IVR: Connecting you to support.",
         "waits in queue demo.support: bridged", *BYE],
        ["start", "greeting", "menu", "route", "to_support", "bye"], "hangup_node"),
    "transfer noAnswer, voicemail recorded": (
        ["2", "queue:leave", REC],
        [*HELLO, "CALLER presses 2", "IVR: Connecting you to support.", "waits in queue demo.support: leave", BUSY,
         f"records: {RECORDING}", *THANKS],
        ["start", "greeting", "menu", "route", "to_support", "voicemail", "thanks"], "hangup_node"),
    "transfer busy, voicemail noAudio": (
        ["1", "queue:queue-full", "record:none"],
        [*HELLO, "CALLER presses 1", "IVR: Connecting you to sales.", "waits in queue demo.sales: queue-full", BUSY,
         "records: nothing", *NO_MESSAGE],
        ["start", "greeting", "menu", "route", "to_sales", "voicemail", "no_message"], "hangup_node"),
    "transfer failed, voicemail recorded": (
        ["1", "queue:error", REC],
        [*HELLO, "CALLER presses 1", "IVR: Connecting you to sales.", "waits in queue demo.sales: error", BUSY,
         f"records: {RECORDING}", *THANKS],
        ["start", "greeting", "menu", "route", "to_sales", "voicemail", "thanks"], "hangup_node"),
    "caller hangs up at the menu": (
        [],
        [*HELLO, "CALLER hangs up"],
        ["start", "greeting", "menu"], "caller_completed"),
    "caller hangs up after a retry": (
        ["silence", "hangup"],
        [*HELLO, "CALLER (silence)", NO_INPUT, MENU, "CALLER hangs up"],
        ["start", "greeting", "menu"], "caller_completed"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SUPPORT_LINE))
def test_support_line(stack: Stack, case: str) -> None:
    inputs, transcript, path, outcome = SUPPORT_LINE[case]
    result, record = run(stack, DEMO_NUMBER, inputs)
    assert result.transcript == transcript
    assert record.state.path == path
    assert record.outcome == outcome
    assert (record.tenant_id, record.flow_id, record.flow_version) == ("demo", "support_line", "1.0.0")
    assert record.events[-1]["type"] == "call.completed"
    assert record.events[-1]["data"]["path"] == path


def test_support_line_stores_what_the_caller_chose(stack: Stack) -> None:
    _, record = run(stack, DEMO_NUMBER, ["speech:Support, please.", "queue:bridged"])
    assert record.state.variables["department"] == "support"  # the designer's spelling, not the recogniser's
    types = [event["type"] for event in record.events]
    assert types[0] == "call.routed" and "input.accepted" in types and "transfer.ended" in types


# -- account_lookup ---------------------------------------------------------------------------------

ACCOUNT_URL = "https://accounts.example.com/v1/accounts/123456"
ASK = "IVR: Please enter your account number, followed by the pound key."
THANK_YOU = ["IVR: Thank you for calling. Goodbye.", "IVR hangs up"]
NO_AGENT = ["IVR: Sorry, no agent is available. Please call again later. Goodbye.", "IVR hangs up"]
TO_AGENT = "IVR: Transferring you to an agent."
DOWN = "IVR: Our account systems are not available right now."

ACCOUNT_ANSWERS: dict[str, tuple[int, Any, str | None]] = {
    "active": (200, {"status": "active", "name": "Ada", "balance": "42.50"}, None),
    "overdue": (200, {"status": "overdue", "name": "Bob", "balance": "-10"}, None),
    "unknown": (200, {"status": "closed"}, None),
    "not JSON": (200, "<html>ok</html>", None),
    "404": (404, {"error": "no such account"}, None),
    "500": (500, "internal error", None),
    "timeout": (0, "", "timed out after 3.0s"),
    "connection refused": (0, "", "request failed: ConnectionError"),
}

ACCOUNT_LOOKUP = {
    "active: balance": (
        "active", ["123456#"],
        [ASK, "CALLER presses 123456", "IVR: Hello Ada. Your balance is 42.50 dollars.", *THANK_YOU],
        ["start", "ask_account", "lookup", "check_status", "balance", "bye"]),
    "overdue: billing answers": (
        "overdue", ["123456#", "queue:bridged"],
        [ASK, "CALLER presses 123456", "IVR: Your account is overdue. Let me connect you to billing.",
         "waits in queue demo.billing: bridged", *THANK_YOU],
        ["start", "ask_account", "lookup", "check_status", "to_billing", "bye"]),
    "overdue: billing noAnswer, agent answers": (
        "overdue", ["123456#", "queue:leave", "dial:completed"],
        [ASK, "CALLER presses 123456", "IVR: Your account is overdue. Let me connect you to billing.",
         "waits in queue demo.billing: leave", TO_AGENT, "dials +14155550100: completed", *THANK_YOU],
        ["start", "ask_account", "lookup", "check_status", "to_billing", "to_agent", "bye"]),
    "overdue: billing busy, agent busy": (
        "overdue", ["123456#", "queue:queue-full", "dial:busy"],
        [ASK, "CALLER presses 123456", "IVR: Your account is overdue. Let me connect you to billing.",
         "waits in queue demo.billing: queue-full", TO_AGENT, "dials +14155550100: busy", *NO_AGENT],
        ["start", "ask_account", "lookup", "check_status", "to_billing", "to_agent", "agent_unavailable"]),
    "overdue: billing failed, agent no-answer": (
        "overdue", ["123456#", "queue:system-error", "dial:no-answer"],
        [ASK, "CALLER presses 123456", "IVR: Your account is overdue. Let me connect you to billing.",
         "waits in queue demo.billing: system-error", TO_AGENT, "dials +14155550100: no-answer", *NO_AGENT],
        ["start", "ask_account", "lookup", "check_status", "to_billing", "to_agent", "agent_unavailable"]),
    "unknown status: not found, agent failed": (
        "unknown", ["123456#", "dial:failed"],
        [ASK, "CALLER presses 123456", "IVR: We could not find that account.", TO_AGENT,
         "dials +14155550100: failed", *NO_AGENT],
        ["start", "ask_account", "lookup", "check_status", "not_found", "to_agent", "agent_unavailable"]),
    "not JSON: not found": (
        "not JSON", ["123456#", "dial:completed"],
        [ASK, "CALLER presses 123456", "IVR: We could not find that account.", TO_AGENT,
         "dials +14155550100: completed", *THANK_YOU],
        ["start", "ask_account", "lookup", "check_status", "not_found", "to_agent", "bye"]),
    "404: systems down": (
        "404", ["123456#", "dial:completed"],
        [ASK, "CALLER presses 123456", DOWN, TO_AGENT, "dials +14155550100: completed", *THANK_YOU],
        ["start", "ask_account", "lookup", "systems_down", "to_agent", "bye"]),
    "500: systems down": (
        "500", ["123456#", "dial:completed"],
        [ASK, "CALLER presses 123456", DOWN, TO_AGENT, "dials +14155550100: completed", *THANK_YOU],
        ["start", "ask_account", "lookup", "systems_down", "to_agent", "bye"]),
    "timeout: systems down": (
        "timeout", ["123456#", "dial:busy"],
        [ASK, "CALLER presses 123456", DOWN, TO_AGENT, "dials +14155550100: busy", *NO_AGENT],
        ["start", "ask_account", "lookup", "systems_down", "to_agent", "agent_unavailable"]),
    "connection refused: systems down": (
        "connection refused", ["123456#", "dial:completed"],
        [ASK, "CALLER presses 123456", DOWN, TO_AGENT, "dials +14155550100: completed", *THANK_YOU],
        ["start", "ask_account", "lookup", "systems_down", "to_agent", "bye"]),
    "noInput: straight to an agent": (
        "active", ["silence", "silence", "silence", "dial:completed"],
        [ASK, "CALLER (silence)", DEFAULT_NO_INPUT, ASK, "CALLER (silence)", DEFAULT_NO_INPUT, ASK,
         "CALLER (silence)", TO_AGENT,
         "dials +14155550100: completed", *THANK_YOU],
        ["start", "ask_account", "to_agent", "bye"]),
    "noMatch: straight to an agent": (
        "active", ["12#", "123456789#", "12345#", "dial:completed"],
        [ASK, "CALLER presses 12", "IVR: Account numbers have six to eight digits.", ASK,
         "CALLER presses 123456789", "IVR: Account numbers have six to eight digits.", ASK,
         "CALLER presses 12345", TO_AGENT, "dials +14155550100: completed", *THANK_YOU],
        ["start", "ask_account", "to_agent", "bye"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ACCOUNT_LOOKUP))
def test_account_lookup(stack: Stack, case: str) -> None:
    answer, inputs, transcript, path = ACCOUNT_LOOKUP[case]
    status, body, error = ACCOUNT_ANSWERS[answer]
    stack.fetcher.answer("/v1/accounts/", status, body, error)
    result, record = run(stack, LOOKUP_NUMBER, inputs)
    assert result.transcript == transcript
    assert record.state.path == path
    assert record.outcome == "hangup_node"
    if "lookup" in path:
        # Once, bounded by the node's 3 s and by the webhook budget less the write reserve (2.5 - 0.5 s).
        [(method, url, timeout)] = stack.fetcher.requests
        assert (method, url) == ("GET", ACCOUNT_URL)
        assert 1.5 < timeout <= 2.0
    else:
        assert stack.fetcher.requests == []


def test_account_lookup_keeps_the_answer_in_the_call(stack: Stack) -> None:
    stack.fetcher.answer("/v1/accounts/", *ACCOUNT_ANSWERS["active"])
    _, record = run(stack, LOOKUP_NUMBER, ["123456#"])
    assert record.state.variables["account"] == "123456"
    assert record.state.variables["account_info"] == {"status": "active", "name": "Ada", "balance": "42.50"}
    assert record.state.widgets["lookup"]["status_code"] == 200
    assert record.pending_http is None


def test_a_slow_account_api_takes_the_failed_branch_within_the_budget(stack: Stack) -> None:
    """An API that hangs for the node's whole timeout (3 s) must cost the caller a pause and the
    node's ``failed`` branch, answered within 3 s like every webhook, not the generic apology."""
    stack.fetcher.answer("/v1/accounts/", *ACCOUNT_ANSWERS["active"])
    stack.fetcher.delay = 30.0  # hangs until the fetcher's own timeout
    slowest = 0.0
    post = stack.sim().post

    def timed(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        nonlocal slowest
        began = time.monotonic()
        try:
            return post(url, params, headers)
        finally:
            slowest = max(slowest, time.monotonic() - began)

    sim = stack.sim()
    sim.post = timed
    result = sim.call(LOOKUP_NUMBER, inputs=["123456#", "dial:completed"])
    assert slowest < 3.0
    assert result.transcript == [ASK, "CALLER presses 123456", DOWN, TO_AGENT, "dials +14155550100: completed",
                                 *THANK_YOU]  # fmt: skip
    assert stack.stored(result.call_sid).state.path == ["start", "ask_account", "lookup", "systems_down",
                                                           "to_agent", "bye"]  # fmt: skip


# -- after_hours_voicemail --------------------------------------------------------------------------

CLOSED = "IVR: Our office is closed. To leave a message, press 1. For the emergency line, press 9."
LEAVE = "IVR: Please leave your name, number and message after the tone. Press pound when you are done."
SAVED = ["IVR: Thank you, we will call you back on the next working day. Goodbye.", "IVR hangs up"]
NOTHING = ["IVR: We did not hear a message. Goodbye.", "IVR hangs up"]
DONE = ["IVR: Thank you for calling. Goodbye.", "IVR hangs up"]
EMERGENCY = "IVR: Connecting you to the emergency line."

AFTER_HOURS = {
    "open: front desk answers": (
        OPEN_AT, ["queue:bridged"],
        ["waits in queue demo.front_desk: bridged", *DONE],
        ["start", "hours", "front_desk", "done"]),
    "open: front desk noAnswer, message left": (
        OPEN_AT, ["queue:leave", "1", REC],
        ["waits in queue demo.front_desk: leave", CLOSED, "CALLER presses 1", LEAVE, f"records: {RECORDING}", *SAVED],
        ["start", "hours", "front_desk", "closed", "which", "record", "saved"]),
    "open: front desk busy, emergency answers": (
        OPEN_AT, ["queue:queue-full", "9", "dial:completed"],
        ["waits in queue demo.front_desk: queue-full", CLOSED, "CALLER presses 9", EMERGENCY,
         "dials +442079460000: completed", *DONE],
        ["start", "hours", "front_desk", "closed", "which", "emergency", "done"]),
    "open: front desk failed, silence, no message": (
        OPEN_AT, ["queue:error", "silence", "silence", "record:none"],
        ["waits in queue demo.front_desk: error", CLOSED, "CALLER (silence)", DEFAULT_NO_INPUT, CLOSED,
         "CALLER (silence)", LEAVE, "records: nothing", *NOTHING],
        ["start", "hours", "front_desk", "closed", "record", "nothing"]),
    "closed: message": (
        CLOSED_AT, ["1", REC],
        [CLOSED, "CALLER presses 1", LEAVE, f"records: {RECORDING}", *SAVED],
        ["start", "hours", "closed", "which", "record", "saved"]),
    "closed: emergency busy, no message": (
        CLOSED_AT, ["9", "dial:busy", "record:none"],
        [CLOSED, "CALLER presses 9", EMERGENCY, "dials +442079460000: busy", LEAVE, "records: nothing", *NOTHING],
        ["start", "hours", "closed", "which", "emergency", "record", "nothing"]),
    "closed: emergency noAnswer": (
        CLOSED_AT, ["9", "dial:no-answer", REC],
        [CLOSED, "CALLER presses 9", EMERGENCY, "dials +442079460000: no-answer", LEAVE, f"records: {RECORDING}",
         *SAVED],
        ["start", "hours", "closed", "which", "emergency", "record", "saved"]),
    "closed: emergency failed": (
        CLOSED_AT, ["9", "dial:failed", REC],
        [CLOSED, "CALLER presses 9", EMERGENCY, "dials +442079460000: failed", LEAVE, f"records: {RECORDING}",
         *SAVED],
        ["start", "hours", "closed", "which", "emergency", "record", "saved"]),
    "closed: noMatch twice": (
        CLOSED_AT, ["5", "7", "record:none"],
        [CLOSED, "CALLER presses 5", DEFAULT_NO_MATCH, CLOSED, "CALLER presses 7", LEAVE, "records: nothing", *NOTHING],
        ["start", "hours", "closed", "record", "nothing"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(AFTER_HOURS))
def test_after_hours_voicemail(stack: Stack, case: str) -> None:
    at, inputs, transcript, path = AFTER_HOURS[case]
    stack.clock.at = at
    result, record = run(stack, AFTER_HOURS_NUMBER, inputs)
    assert result.transcript == transcript
    assert record.state.path == path
    assert record.outcome == "hangup_node"


def test_after_hours_without_its_schedule_takes_closed(stack: Stack) -> None:
    """A hoursNode whose schedule is unknown at call time (deleted after the deploy) is closed."""
    stack.store.delete_schedule("demo", "business_hours")
    stack.clock.at = OPEN_AT
    result, record = run(stack, AFTER_HOURS_NUMBER, ["1", REC])
    assert result.transcript[0] == CLOSED
    assert record.state.path[:3] == ["start", "hours", "closed"]
    assert "hours.unknown_schedule" in [event["type"] for event in record.events]


# -- every webhook of a call answers fast -----------------------------------------------------------


def test_every_webhook_of_a_call_answers_well_under_the_budget(stack: Stack) -> None:
    timings: list[float] = []
    post = stack.sim().post

    def timed(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        began = time.monotonic()
        try:
            return post(url, params, headers)
        finally:
            timings.append(time.monotonic() - began)

    sim = stack.sim()
    sim.post = timed
    result = sim.call(DEMO_NUMBER, inputs=["silence", "2", "queue:leave", REC])
    assert result.problems == []
    assert len(timings) == 6
    assert max(timings) < 1.0, timings
