"""simulator: script items, network defaults, HTTP mocks, and the turn limit."""

from __future__ import annotations

from typing import Any

import pytest
from flowkit import NOW, collect, compiled, edge, http, say, start, transfer, voicemail

from common.core import engine, simulator
from common.core.call import DialEnded, DigitsEntered, HttpRequest, NoInput, QueueEnded, RecordingEnded, SpeechHeard

SID = "REsimulated"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("1", DigitsEntered("1")), ("42#", DigitsEntered("42")), ("#", DigitsEntered("#")),
        ("*9", DigitsEntered("*9")), ("speech:I want Sales.", SpeechHeard("I want Sales.", 0.9)),
        ("silence", NoInput()), ("SILENCE", NoInput()), ("hangup", "hangup"),
        ("dial:busy", DialEnded("busy", 0)), ("dial:completed", DialEnded("completed", 60)),
        ("dial:answered:12", DialEnded("answered", 12)), ("queue:bridged:30", QueueEnded("bridged", 30)),
        ("record:none", RecordingEnded(None, 0)),
        ("record:https://r.example.com/x:20", RecordingEnded("https://r.example.com/x", 20, recording_sid=SID)),
        ("record:https://r.example.com/x", RecordingEnded("https://r.example.com/x", 12, recording_sid=SID)),
    ],
)  # fmt: skip
def test_parse_item(item: str, expected: Any) -> None:
    assert simulator.parse_item(item) == expected


@pytest.mark.parametrize("item", ["", "speech:", "dial:", "queue", "record:", "press 1", "1 2"])
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
