"""The two simulators agree: the in-process one (common/core/simulator.py, behind `ivr simulate` and the
execute API) and the Twilio-like caller over HTTP (common/callsim.py) against the live stack take the
same path through the flow for the same script, name the same Twilio queues, and leave the same inputs
unused. Both must play the TwiML as Twilio does (empty recordings, hang-ups while recording, speech
at a keys-only Gather), so a disagreement means one of them is not faithful."""

from __future__ import annotations

import re

import pytest
from livestack import AFTER_HOURS_NUMBER, CLOSED_AT, DEMO_NUMBER, TENANT_A, Stack

from common.callsim import TwilioCallSimulator
from common.core import simulator

CASES = {
    "sales, an input left over": (DEMO_NUMBER, "support_line", ["1", "queue:bridged", "2"]),
    "support by speech": (DEMO_NUMBER, "support_line", ["speech:Support, please.", "queue:leave"]),
    "empty voicemail": (AFTER_HOURS_NUMBER, "after_hours_voicemail", ["1", "record:none"]),
    "hangs up while recording a message": (AFTER_HOURS_NUMBER, "after_hours_voicemail", ["1", "record:hangup:8"]),
    "hangs up before saying anything": (AFTER_HOURS_NUMBER, "after_hours_voicemail", ["1", "record:hangup", "1"]),
    "speech at a keys-only menu is silence": (
        AFTER_HOURS_NUMBER, "after_hours_voicemail", ["speech:One.", "silence", "record:none"]
    ),
}  # fmt: skip


def queues_in_process(sim: simulator.Simulation) -> list[str]:
    return [m.group(1) for line in sim.transcript if (m := re.search(r": queue (\S+)$", line.text))]


def queues_over_http(transcript: list[str]) -> list[str]:
    return [m.group(1) for line in transcript if (m := re.match(r"waits in queue (\S+): ", line))]


@pytest.mark.parametrize("case", list(CASES))
def test_both_simulators_take_the_same_path(stack: Stack, case: str) -> None:
    number, flow_id, inputs = CASES[case]
    stack.clock.at = CLOSED_AT
    over_http = stack.call(number, list(inputs))
    assert over_http.problems == []
    stored = stack.stored(over_http.call_sid)
    flow = stack.svc.calls.flows.get(TENANT_A, flow_id, stored.flow_version)
    in_process = simulator.simulate(flow, list(inputs), now=CLOSED_AT, tenant=TENANT_A,
                                    schedules=stack.svc.calls.calendars.lookup(TENANT_A))  # fmt: skip
    assert in_process.problems == []
    assert in_process.path == stored.state.path
    assert queues_in_process(in_process) == queues_over_http(over_http.transcript)
    assert in_process.unused_inputs == over_http.unused_inputs
    # and every document the caller got is the one the in-process simulator rendered (but for the base URL)
    base = stack.svc.settings.public_base_url
    live = [e.body.replace(base, simulator.SIM_BASE_URL) for e in over_http.exchanges if "/status" not in e.url]
    assert in_process.twiml == live


ROUTED = {
    "an agent answers": (["1", "agent:answer:30"], False),
    "an agent declines, the next answers": (["2", "agent:decline", "agent:answer:20"], False),
    "a message from the hold loop": (["1", "press:2", "record:https://api.twilio.com/r/RE1:9"], True),
    "a callback from the hold loop": (["2", "press:1", "press:1"], True),
    "a caller who hangs up holding": (["1", "hold:3"], True),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ROUTED))
def test_both_simulators_agree_on_department_scripts(stack: Stack, case: str) -> None:
    """With routing the live stack holds the caller in its own loop (so the TwiML differs), but the same
    hold-loop and agent items take the same path through the flow in both simulators."""
    from callkit import MUSIC, attach

    inputs, everyone_away = ROUTED[case]
    routed = attach(stack)
    menu = {"musicUrl": MUSIC, "escapeMenu": {"callback": True, "voicemail": True}}
    for department in ("sales", "support"):
        routed.department(department, hold=menu)
        for n in (1, 2):
            routed.agent(f"{department}{n}", department, status="away" if everyone_away else "available")
    sim = simulator_over_http(stack)
    over_http = sim.call(DEMO_NUMBER, inputs=list(inputs), advance=routed.advance)
    assert over_http.problems == []
    stored = stack.stored(over_http.call_sid)
    flow = stack.svc.calls.flows.get(TENANT_A, "support_line", stored.flow_version)
    in_process = simulator.simulate(flow, list(inputs), now=stack.clock(), tenant=TENANT_A)
    assert in_process.problems == []
    assert in_process.path == stored.state.path
    assert in_process.unused_inputs == over_http.unused_inputs == []


def simulator_over_http(stack: Stack) -> TwilioCallSimulator:
    from livestack import ACCOUNT_A, BASE, TOKEN_A, transport

    return TwilioCallSimulator(BASE, TOKEN_A, ACCOUNT_A, post=transport(stack.app), play_seconds=15)
