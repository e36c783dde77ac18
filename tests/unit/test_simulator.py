"""simulator: script items, network defaults, HTTP mocks, and the turn limit."""

from __future__ import annotations

from typing import Any

import pytest
from flowkit import NOW, collect, compiled, department, edge, hangup, http, say, start, transfer, voicemail

from common.core import engine, simulator
from common.core.call import (
    DepartmentEnded,
    DialEnded,
    DigitsEntered,
    HttpRequest,
    NoInput,
    RecordingEnded,
    SpeechHeard,
)  # fmt: skip
from common.core.flow import DEPARTMENT_OUTCOMES

SID = "REsimulated"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("1", DigitsEntered("1")), ("42#", DigitsEntered("42")), ("#", DigitsEntered("#")),
        ("*9", DigitsEntered("*9")), ("speech:I want Sales.", SpeechHeard("I want Sales.", 0.9)),
        ("silence", NoInput()), ("SILENCE", NoInput()), ("hangup", "hangup"),
        ("dial:busy", DialEnded("busy", 0)), ("dial:completed", DialEnded("completed", 60)),
        ("dial:answered:12", DialEnded("answered", 12)), ("queue:bridged:30", DepartmentEnded("completed", 30)),
        ("queue:completed", DepartmentEnded("completed", 0)), ("queue:timeout:600", DepartmentEnded("timeout", 600)),
        ("queue:callbackRequested", DepartmentEnded("callbackRequested")),
        ("queue:callbackrequested", DepartmentEnded("callbackRequested")),
        ("queue:noAgents", DepartmentEnded("noAgents")),
        ("queue:leave", DepartmentEnded("timeout")), ("queue:queue-full", DepartmentEnded("busy")),
        ("queue:error", DepartmentEnded("failed")), ("queue:hangup", DepartmentEnded("failed")),
        ("record:none", RecordingEnded(None, 0)),
        ("record:https://r.example.com/x:20", RecordingEnded("https://r.example.com/x", 20, recording_sid=SID)),
        ("record:https://r.example.com/x", RecordingEnded("https://r.example.com/x", 12, recording_sid=SID)),
        ("record:hangup", RecordingEnded(None, 0, "hangup")),
        ("record:hangup:8", RecordingEnded(simulator.SIM_RECORDING, 8, "hangup", SID)),
        ("agent:answer:45", simulator.HoldItem("agent", "answer:45")),
        ("agent:decline", simulator.HoldItem("agent", "decline")), ("press:1", simulator.HoldItem("press", "1")),
        ("press:+15551234567#", simulator.HoldItem("press", "+15551234567#")),
        ("hold:3", simulator.HoldItem("hold", "3")), ("customer:busy", simulator.HoldItem("customer", "busy")),
    ],
)  # fmt: skip
def test_parse_item(item: str, expected: Any) -> None:
    assert simulator.parse_item(item) == expected


@pytest.mark.parametrize("item", ["", "speech:", "dial:", "queue", "record:", "press 1", "1 2", "queue:answered",
                                  "agent:maybe", "agent:answer:x", "hold:", "hold:two", "press:", "customer:decline"])
def test_parse_item_refuses(item: str) -> None:
    with pytest.raises(simulator.ScriptError, match="cannot read input"):
        simulator.parse_item(item)


@pytest.mark.parametrize(
    ("mock", "url", "method", "matches"),
    [
        (simulator.HttpMock("accounts"), "https://api.example.com/accounts/1", "GET", True),
        (simulator.HttpMock("orders"), "https://api.example.com/accounts/1", "GET", False),
        (simulator.HttpMock("^https://api\\.example\\.com/a"), "https://api.example.com/accounts", "GET", True),
        (simulator.HttpMock("^accounts"), "https://api.example.com/accounts", "GET", False),
        (simulator.HttpMock("accounts", method="post"), "https://api.example.com/accounts", "POST", True),
        (simulator.HttpMock("accounts", method="POST"), "https://api.example.com/accounts", "GET", False),
    ],
)  # fmt: skip
def test_http_mock_matching(mock: simulator.HttpMock, url: str, method: str, matches: bool) -> None:
    request = HttpRequest(method, url, {}, None, "application/json", 3.0)
    assert mock.matches(request) is matches


def test_network_waits_take_defaults_and_keep_caller_items_for_later() -> None:
    flow = compiled([start(), transfer("t", {"type": "number", "numbers": ["+14155550100"]}),
                     collect("menu"), say("done", "Done.")],
                    [edge("start", "t"), edge("t", "menu", "completed"), edge("menu", "done", "success")])  # fmt: skip
    sim = simulator.simulate(flow, ["7"], now=NOW)
    assert sim.path == ["start", "t", "menu", "done"]
    assert sim.variables == {"choice": "7"}
    assert any(line.text == "dial answered (default), call lasted 60s" for line in sim.transcript)
    assert sim.hung_up_by == "ivr"


def test_unmatched_http_request_fails() -> None:
    flow = compiled([start(), http("h"), say("bad", "{{ widgets.h.error }}")],
                    [edge("start", "h"), edge("h", "bad", "failed")])  # fmt: skip
    sim = simulator.simulate(flow, [], now=NOW, http=[simulator.HttpMock("other.example.com")])
    assert sim.path == ["start", "h", "bad"]
    assert sim.state is not None
    assert sim.state.widgets["h"]["status_code"] == 0


def test_exhausted_script_hangs_up_while_waiting_for_the_caller() -> None:
    sim = simulator.simulate(compiled([start(), collect("menu")], [edge("start", "menu")]), [], now=NOW)
    assert sim.hung_up_by == "caller"
    assert sim.transcript[-1].text == "hangs up"


def test_network_item_while_waiting_for_the_caller_is_a_script_error() -> None:
    with pytest.raises(simulator.ScriptError, match="does not fit"):
        simulator.simulate(compiled([start(), collect("menu")], [edge("start", "menu")]), ["dial:busy"], now=NOW)


def test_turn_limit_covers_the_engine_guards() -> None:
    """Silence re-prompts do not count as steps, so a call can take ~10 turns per step before a guard ends it.

    Voicemail -> 10-attempt menu -> (silence) -> voicemail: every default recording is caller input, so only
    the step guard ends this call, after about 5,500 turns. The simulator must not give up first.
    """
    flow = compiled([start(), voicemail("vm"), collect("menu", maxAttempts=10)],
                    [edge("start", "vm"), edge("vm", "menu", "recorded"), edge("menu", "vm", "noInput")])  # fmt: skip
    sim = simulator.simulate(flow, lambda waiting, node, turn: "silence" if waiting == "input" else None, now=NOW)
    assert sim.problems == []
    assert sim.state is not None
    assert sim.state.end_reason == "step_limit"
    assert sim.hung_up_by == "guard"
    assert len(sim.twiml) > 2_000
    assert len(sim.twiml) <= simulator.MAX_TURNS
    assert sim.state.steps == engine.MAX_STEPS + 1


# -- fidelity to Twilio -----------------------------------------------------------------------------

VOICEMAIL = compiled(
    [start(), voicemail("vm"), hangup("saved", "Saved."), hangup("nothing", "Nothing heard.")],
    [edge("start", "vm"), edge("vm", "saved", "recorded"), edge("vm", "nothing", "noAudio")],
)


def texts(sim: simulator.Simulation) -> list[str]:
    return [f"{line.speaker}: {line.text}" for line in sim.transcript]


def test_an_empty_recording_comes_back_through_the_redirect_after_record() -> None:
    """Twilio does not post Record's action for an empty recording: it plays the next verb. Our TwiML
    puts a Redirect to the step there, and that request (no RecordingUrl) takes noAudio."""
    sim = simulator.simulate(VOICEMAIL, ["record:none"], now=NOW)
    assert sim.path == ["start", "vm", "nothing"]
    assert "system: nothing recorded: Twilio skips the Record action and follows the <Redirect>" in texts(sim)
    assert "<Redirect" in sim.twiml[0]


def test_an_empty_recording_with_nothing_after_record_ends_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    real = simulator.twiml.render

    def without_redirect(*args: Any, **kwargs: Any) -> str:
        document = real(*args, **kwargs)
        return document.split("<Redirect")[0] + "</Response>" if "<Record" in document else document

    monkeypatch.setattr(simulator.twiml, "render", without_redirect)
    sim = simulator.simulate(VOICEMAIL, ["record:none"], now=NOW)
    assert sim.path == ["start", "vm"]
    assert sim.hung_up_by == "ivr"
    assert texts(sim)[-1] == "system: nothing recorded and no verb after <Record>: Twilio hangs up"


def test_hanging_up_during_a_recording_posts_it_and_the_answer_is_never_played() -> None:
    sim = simulator.simulate(VOICEMAIL, ["record:hangup:8"], now=NOW)
    assert sim.path == ["start", "vm", "saved"]  # the action ran the flow on ...
    assert "ivr: Saved." not in texts(sim)  # ... but the caller was gone
    assert sim.hung_up_by == "caller"
    assert texts(sim)[-1] == "caller: hangs up during the recording (8s recorded)"
    assert sim.state is not None and sim.state.widgets["vm"]["RecordingDuration"] == 8


def test_hanging_up_before_saying_anything_ends_the_call_at_the_recording() -> None:
    sim = simulator.simulate(VOICEMAIL, ["record:hangup"], now=NOW)
    assert sim.path == ["start", "vm"]
    assert sim.hung_up_by == "caller"
    assert sim.state is not None and sim.state.waiting == "record"
    assert texts(sim)[-1] == "caller: hangs up during the recording (nothing recorded)"


CHOICES = {"allowedValues": ["1", "sales"]}
MENU = [start(), collect("menu", maxAttempts=1, validation=CHOICES), say("ok", "OK."), say("none", "Nothing.")]
MENU_EDGES = [edge("start", "menu"), edge("menu", "ok", "success"), edge("menu", "none", "noInput"),
              edge("menu", "none", "noMatch")]  # fmt: skip


def test_a_dtmf_gather_does_not_hear_speech() -> None:
    sim = simulator.simulate(compiled(MENU, MENU_EDGES), ["speech:Sales."], now=NOW)
    assert 'caller: says "Sales." (not heard: the Gather takes keys only)' in texts(sim)
    assert sim.path == ["start", "menu", "none"]


def test_a_speech_gather_hears_speech() -> None:
    nodes = [start(), collect("menu", maxAttempts=1, inputType="dtmf speech", validation=CHOICES), *MENU[2:]]
    sim = simulator.simulate(compiled(nodes, MENU_EDGES), ["speech:Sales."], now=NOW)
    assert sim.path == ["start", "menu", "ok"]


def test_a_transfer_names_the_queue_a_stack_without_routing_uses() -> None:
    flow = compiled([start(), transfer("t", department("sales"))], [edge("start", "t")])
    sim = simulator.simulate(flow, ["queue:bridged"], now=NOW, tenant="acme")
    assert any("queue acme.sales" in line for line in texts(sim))
    assert ">acme.sales</Enqueue>" in sim.twiml[0]


def department_flow(**target: Any) -> Any:
    nodes = [start(), transfer("t", department("sales", **target)), *(say(f"o_{o}", o) for o in DEPARTMENT_OUTCOMES)]
    return compiled(nodes, [edge("start", "t"), *(edge("t", f"o_{o}", o) for o in DEPARTMENT_OUTCOMES)])


@pytest.mark.parametrize("outcome", DEPARTMENT_OUTCOMES)
def test_a_department_transfer_ends_as_scripted(outcome: str) -> None:
    sim = simulator.simulate(department_flow(priority="high"), [f"queue:{outcome}:45"], now=NOW, tenant="acme")
    assert sim.path == ["start", "t", f"o_{outcome}"]
    assert "system: transfers to department 'sales' at priority high (100): queue acme.sales" in texts(sim)
    assert f"system: department result: {outcome} after 45s" in texts(sim)
    assert sim.state is not None and sim.state.widgets["t"] == {"outcome": outcome, "waitSeconds": 45,
                                                                "department": "sales"}  # fmt: skip
    assert sim.problems == []


def test_a_department_transfer_without_a_script_is_answered_by_an_agent() -> None:
    sim = simulator.simulate(department_flow(priority=250, maxWaitSeconds=120), [], now=NOW)
    assert sim.path == ["start", "t", "o_completed"]
    assert "system: transfers to department 'sales' at priority 250, at most 120s: queue sales" in texts(sim)
    assert "system: department result: completed, an agent answered after 30s (default)" in texts(sim)


def test_a_bad_rendered_priority_is_said_in_the_transcript() -> None:
    flow = department_flow(priority="{{ caller.from }}")
    sim = simulator.simulate(flow, ["queue:timeout"], now=NOW)
    assert "system: priority rendered as '+15005550006', not a priority: the caller waits at normal" in texts(sim)
    assert "system: transfers to department 'sales' at priority normal (50): queue sales" in texts(sim)
    assert sim.path[-1] == "o_timeout"


def test_decisions_read_department_state_from_the_lookup() -> None:
    from flowkit import decision, rule

    nodes = [start(), decision("d", "{{ departments.sales.available }}", rule("free", "greater_than", "0")),
             say("free", "free"), say("busy", "busy")]
    flow = compiled(nodes, [edge("start", "d"), edge("d", "free", "free"), edge("d", "busy", "default")])
    assert simulator.simulate(flow, [], now=NOW, departments=lambda d: {"available": 1}).path[-1] == "free"
    assert simulator.simulate(flow, [], now=NOW).path[-1] == "busy"


def test_inputs_the_call_never_used_are_reported() -> None:
    sim = simulator.simulate(compiled(MENU, MENU_EDGES), ["1", "2", "speech:more"], now=NOW)
    assert sim.unused_inputs == ["2", "speech:more"]
    assert sim.to_dict()["unusedInputs"] == ["2", "speech:more"]
    assert simulator.simulate(compiled(MENU, MENU_EDGES), ["1"], now=NOW).unused_inputs == []


@pytest.mark.parametrize(
    ("items", "outcome", "unused"),
    [
        pytest.param(["agent:answer:45"], "o_completed", [], id="answered"),
        pytest.param(["agent:no-answer", "agent:decline", "agent:busy", "agent:answer"], "o_completed", [],
                     id="missed-then-answered"),
        pytest.param(["press:1", "press:1"], "o_callbackRequested", [], id="callback-confirmed"),
        pytest.param(["press:2"], "o_voicemail", [], id="voicemail"),
        pytest.param(["agent:busy", "queue:timeout"], "o_timeout", [], id="then-a-queue-item"),
        pytest.param(["agent:busy", "7"], "o_completed", ["7"], id="a-flow-item-waits-for-the-flow"),
    ],
)  # fmt: skip
def test_hold_loop_items_end_a_department_transfer(items: list[str], outcome: str, unused: list[str]) -> None:
    sim = simulator.simulate(department_flow(), list(items), now=NOW)
    assert sim.path[-1] == outcome
    assert sim.unused_inputs == unused


def test_hanging_up_while_holding_ends_the_simulated_call() -> None:
    sim = simulator.simulate(department_flow(), ["agent:no-answer", "hold:2"], now=NOW)
    assert sim.hung_up_by == "caller" and sim.path == ["start", "t"]
    assert "caller: hangs up while holding" in texts(sim)


def test_press_is_digits_at_a_gather() -> None:
    assert simulator.simulate(compiled(MENU, MENU_EDGES), ["press:1"], now=NOW).path == \
        simulator.simulate(compiled(MENU, MENU_EDGES), ["1"], now=NOW).path  # fmt: skip


@pytest.mark.parametrize("item", ["record:none", "record:none:30", "record:NONE:5", "record:none:"])
def test_record_none_is_an_empty_recording_whatever_follows(item: str) -> None:
    assert simulator.parse_item(item) == RecordingEnded(None, 0)


@pytest.mark.parametrize(("item", "allowed"), [("dial:weird", "no-answer"), ("dial:weird:30", "canceled"),
                                               ("queue:weird", "noAgents")])  # fmt: skip
def test_unknown_dial_and_queue_words_name_the_allowed_values(item: str, allowed: str) -> None:
    with pytest.raises(simulator.ScriptError, match="cannot read input") as info:
        simulator.parse_item(item)
    assert allowed in str(info.value)


def test_the_unreadable_input_message_lists_every_item_kind() -> None:
    with pytest.raises(simulator.ScriptError) as info:
        simulator.parse_item("what?")
    for kind in ("digits", "speech:", "silence", "dial:", "queue:", "record:URL", "record:none", "record:hangup",
                 "hangup", "press:", "hold:", "agent:", "customer:"):  # fmt: skip
        assert kind in str(info.value), kind
