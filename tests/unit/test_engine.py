"""engine.step: every node type, every outcome, the guards, illegal events, determinism."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from flowkit import (
    CALL_PARAMS,
    NOW,
    Call,
    chain,
    collect,
    compiled,
    decision,
    department,
    edge,
    event_types,
    hangup,
    hours,
    http,
    node,
    rule,
    say,
    set_vars,
    start,
    transfer,
    voicemail,
)

from common.core import engine
from common.core.call import (
    CallStarted,
    DepartmentEnded,
    Dial,
    DialEnded,
    DigitsEntered,
    Gather,
    Hangup,
    HttpCompleted,
    HttpRequest,
    InboundEvent,
    NoInput,
    Play,
    QueueEnded,
    Record,
    RecordingEnded,
    Say,
    SpeechHeard,
    TransferToDepartment,
)
from common.core.errors import EngineError, UnexpectedEvent
from common.core.flow import CompiledFlow

GOODBYE = "Thank you for calling. Goodbye."
ERROR = "Sorry, we are having trouble right now. Please call again later. Goodbye."


def outcome_flow(node: dict[str, Any], outcomes: tuple[str, ...], **settings: Any) -> CompiledFlow:
    """start -> node; each outcome leads to a sayNode 'out_<outcome>' saying the outcome's name."""
    nodes = [start(), node, *(say(f"out_{o}", f"outcome {o}") for o in outcomes)]
    edges = [edge("start", node["id"]), *(edge(node["id"], f"out_{o}", o) for o in outcomes)]
    return compiled(nodes, edges, **settings)


def ended_at(call: Call) -> str:
    """The node the outcome led to (the flow's last say before the unhandled ``next``)."""
    assert call.state.status == "ended"
    return call.state.path[-1]


# --- startNode / sayNode ---------------------------------------------------------------------------


def test_start_node_follows_next_and_records_every_entry() -> None:
    flow = compiled([start(), say("a", "one"), say("b", "two"), hangup("c")], chain("start", "a", "b", "c"))
    result = Call(flow).start()
    assert result.state.path == ["start", "a", "b", "c"]
    assert result.state.steps == 4
    assert event_types(result) == ["call.started", "node.entered", "node.entered", "node.entered",
                                   "node.entered", "call.ended"]  # fmt: skip
    assert [e.node_id for e in result.events if e.type == "node.entered"] == ["start", "a", "b", "c"]
    assert result.actions == (Say("one", None, "en-US"), Say("two", None, "en-US"), Hangup())
    assert result.state.end_reason == "hangup_node"


@pytest.mark.parametrize(
    ("data", "settings", "expected"),
    [
        pytest.param({"text": "Hello"}, {}, Say("Hello", None, "en-US", 1), id="defaults"),
        pytest.param({"text": "Hello"}, {"voice": "Polly.Joanna", "language": "en-GB"},
                     Say("Hello", "Polly.Joanna", "en-GB", 1), id="flow-voice-and-language"),
        pytest.param({"text": "Hola", "voice": "Polly.Lupe", "language": "es-US"},
                     {"voice": "Polly.Joanna", "language": "en-GB"}, Say("Hola", "Polly.Lupe", "es-US", 1),
                     id="node-overrides-flow"),
        pytest.param({"text": "Again", "loop": 3}, {}, Say("Again", None, "en-US", 3), id="loop"),
        pytest.param({"text": "Hi {{ caller.from }} on {{ now.weekday }}"}, {},
                     Say("Hi +15005550006 on Monday", None, "en-US", 1), id="templated"),
        pytest.param({"audioUrl": "https://cdn.example.com/hello.mp3"}, {},
                     Play("https://cdn.example.com/hello.mp3", 1), id="audio"),
        pytest.param({"audioUrl": "https://cdn.example.com/{{flow.id}}.mp3", "loop": 2}, {},
                     Play("https://cdn.example.com/test_flow.mp3", 2), id="audio-templated-loop"),
    ],
)  # fmt: skip
def test_say_node(data: dict[str, Any], settings: dict[str, Any], expected: Say | Play) -> None:
    flow = compiled([start(), node("s", "sayNode", **data), hangup("h")], chain("start", "s", "h"), **settings)
    result = Call(flow).start()
    assert result.actions == (expected, Hangup())


def test_say_text_rendered_longer_than_4096_is_cut_to_4096() -> None:
    flow = compiled([start(), say("s", "{% for i in (1..500) %}0123456789{% endfor %}")], chain("start", "s"))
    spoken = Call(flow).start().actions[0]
    assert isinstance(spoken, Say)
    assert len(spoken.text) == 4096


# --- collectNode -----------------------------------------------------------------------------------

COLLECT_OUTCOMES = ("success", "noInput", "noMatch")


def collect_flow(**data: Any) -> CompiledFlow:
    return outcome_flow(collect("menu", **data), COLLECT_OUTCOMES, voice="Polly.Joanna")


def test_collect_renders_a_gather_and_waits_for_input() -> None:
    flow = collect_flow(prompt="Press 1 for {{ flow.id }}.", numDigits=1, finishOnKey="*", timeout=7)
    result = Call(flow).start()
    assert result.actions == (
        Gather(input="dtmf", timeout=7, prompts=(Say("Press 1 for test_flow.", "Polly.Joanna", "en-US"),),
               num_digits=1, finish_on_key="*"),
    )  # fmt: skip
    assert (result.state.waiting, result.state.cursor, result.state.status) == ("input", "menu", "active")


def test_collect_speech_gather_sets_speech_options_and_audio_prompt() -> None:
    flow = collect_flow(inputType="dtmf speech", prompt="Say sales.", promptAudioUrl="https://cdn.example.com/m.mp3",
                        hints=["sales", "support"], speechTimeout=3, speechModel="phone_call",
                        language="en-GB")  # fmt: skip
    (gather,) = Call(flow).start().actions
    assert gather == Gather(
        input="dtmf speech", timeout=5,
        prompts=(Play("https://cdn.example.com/m.mp3"), Say("Say sales.", "Polly.Joanna", "en-GB")),
        finish_on_key="#", speech_timeout="3", speech_model="phone_call", hints=("sales", "support"),
        language="en-GB",
    )  # fmt: skip


def test_collect_dtmf_success_stores_variable_and_widget_digits() -> None:
    nodes = [start(), collect("menu", variable="account"),
             say("echo", "You entered {{ widgets.menu.Digits }} / {{ flow.variables.account }}.")]  # fmt: skip
    flow = compiled(nodes, [edge("start", "menu"), edge("menu", "echo", "success")])
    call = Call(flow)
    call.start()
    result = call.send(DigitsEntered("4711"))
    assert result.actions[0] == Say("You entered 4711 / 4711.", None, "en-US")
    assert result.state.variables == {"account": "4711"}
    assert result.state.widgets["menu"] == {"Digits": "4711", "attempt": 1, "value": "4711"}
    assert "input.accepted" in event_types(result)


def test_collect_speech_success_stores_the_allowed_spelling() -> None:
    flow = collect_flow(inputType="speech", validation={"allowedValues": ["sales", "support"]})
    call = Call(flow)
    call.start()
    result = call.send(SpeechHeard("Sales.", 0.87))
    assert ended_at(call) == "out_success"
    assert result.state.variables["choice"] == "sales"
    assert result.state.widgets["menu"] == {"SpeechResult": "Sales.", "Confidence": 0.87, "attempt": 1,
                                            "value": "sales"}  # fmt: skip


def test_collect_no_input_reprompts_then_takes_no_input() -> None:
    flow = collect_flow(prompt="Press 1.", maxAttempts=3, noInputMessage="I did not hear you.")
    call = Call(flow)
    call.start()
    reprompt = Gather(input="dtmf", timeout=5, prompts=(Say("I did not hear you.", "Polly.Joanna", "en-US"),
                                                        Say("Press 1.", "Polly.Joanna", "en-US")))  # fmt: skip
    for attempt in (1, 2):
        result = call.send(NoInput())
        assert result.actions == (reprompt,)
        assert (result.state.waiting, result.state.attempts) == ("input", attempt)
    result = call.send(NoInput())
    assert ended_at(call) == "out_noInput"
    assert result.actions[0] == Say("outcome noInput", "Polly.Joanna", "en-US")
    assert [e.data["reason"] for r in call.results for e in r.events if e.type == "input.rejected"] == \
        ["noInput"] * 3  # fmt: skip


def test_collect_no_match_after_the_last_attempt_with_default_messages() -> None:
    flow = collect_flow(prompt="Press 1.", maxAttempts=2, validation={"allowedValues": ["1"]})
    call = Call(flow)
    call.start()
    result = call.send(DigitsEntered("7"))
    (gather,) = result.actions
    assert isinstance(gather, Gather)
    assert [p.text for p in gather.prompts if isinstance(p, Say)] == [engine.DEFAULT_NO_MATCH, "Press 1."]
    assert result.state.widgets["menu"] == {"Digits": "7", "attempt": 1}
    call.send(DigitsEntered("8"))
    assert ended_at(call) == "out_noMatch"
    assert "choice" not in call.state.variables


def test_collect_default_no_input_message() -> None:
    call = Call(collect_flow(prompt="Press 1.", maxAttempts=2))
    call.start()
    (gather,) = call.send(NoInput()).actions
    assert isinstance(gather, Gather)
    assert isinstance(gather.prompts[0], Say)
    assert gather.prompts[0].text == engine.DEFAULT_NO_INPUT


@pytest.mark.parametrize(
    ("events", "outcome"),
    [
        pytest.param([NoInput(), DigitsEntered("9")], "noMatch", id="noInput-then-noMatch"),
        pytest.param([DigitsEntered("9"), NoInput()], "noInput", id="noMatch-then-noInput"),
        pytest.param([NoInput(), DigitsEntered("1")], "success", id="noInput-then-success"),
        pytest.param([DigitsEntered("9"), DigitsEntered("")], "noInput", id="empty-digits-are-silence"),
        pytest.param([SpeechHeard("um"), SpeechHeard("  ")], "noInput", id="blank-speech-is-silence"),
    ],
)
def test_collect_last_attempt_decides_the_outcome(events: list[Any], outcome: str) -> None:
    call = Call(collect_flow(inputType="dtmf speech", maxAttempts=2, validation={"allowedValues": ["1"]}))
    call.start()
    call.send_all(events)
    assert ended_at(call) == f"out_{outcome}"


@pytest.mark.parametrize(
    ("validation", "event", "outcome", "stored"),
    [
        pytest.param({"pattern": "[0-9]{4}"}, DigitsEntered("1234"), "success", "1234", id="pattern-ok"),
        pytest.param({"pattern": "[0-9]{4}"}, DigitsEntered("12345"), "noMatch", None, id="pattern-fullmatch"),
        pytest.param({"pattern": "[0-9]{4}"}, DigitsEntered("123"), "noMatch", None, id="pattern-short"),
        pytest.param({"pattern": "sales|support"}, SpeechHeard("Support!"), "success", "Support!",
                     id="pattern-speech-normalised"),
        pytest.param({"minDigits": 3}, DigitsEntered("12"), "noMatch", None, id="min-digits-short"),
        pytest.param({"minDigits": 3}, DigitsEntered("123"), "success", "123", id="min-digits-ok"),
        pytest.param({"maxDigits": 3}, DigitsEntered("1234"), "noMatch", None, id="max-digits-long"),
        pytest.param({"maxDigits": 3}, DigitsEntered("123"), "success", "123", id="max-digits-ok"),
        pytest.param({"minDigits": 2, "maxDigits": 2}, DigitsEntered(" 42 "), "success", "42", id="stripped"),
        pytest.param({"allowedValues": ["1", "2"]}, DigitsEntered("2"), "success", "2", id="allowed-digit"),
        pytest.param({"allowedValues": ["1", "2"]}, DigitsEntered("3"), "noMatch", None, id="not-allowed"),
        pytest.param({"allowedValues": ["1", "2"]}, DigitsEntered("12"), "noMatch", None, id="digits-exact"),
        pytest.param({"allowedValues": ["Billing", "Support"]}, SpeechHeard("Support, please."), "success",
                     "Support", id="allowed-speech-contains-word"),
        pytest.param({"allowedValues": ["sales"]}, SpeechHeard("wholesales"), "noMatch", None,
                     id="allowed-speech-whole-words"),
        pytest.param(None, DigitsEntered("007"), "success", "007", id="no-validation-keeps-zeros"),
        pytest.param(None, SpeechHeard("Anything at all."), "success", "Anything at all.", id="raw-speech"),
    ],
)  # fmt: skip
def test_collect_validation(validation: dict[str, Any] | None, event: Any, outcome: str,
                            stored: str | None) -> None:  # fmt: skip
    data: dict[str, Any] = {"inputType": "dtmf speech", "maxAttempts": 1}
    if validation is not None:
        data["validation"] = validation
    call = Call(collect_flow(**data))
    call.start()
    result = call.send(event)
    assert ended_at(call) == f"out_{outcome}"
    assert result.state.variables.get("choice") == stored


# --- decisionNode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "variables", "expected"),
    [
        pytest.param([rule("a", "contains", "ale"), rule("b", "equal_to", "sales")], {"dept": "Sales"}, "a",
                     id="first-match-wins"),
        pytest.param([rule("a", "equal_to", "support"), rule("b", "equal_to", "sales")], {"dept": "sales"},
                     "b", id="second-rule"),
        pytest.param([rule("a", "equal_to", "support")], {"dept": "sales"}, "default", id="default"),
        pytest.param([rule("a", "equal_to", "vip", input="{{ flow.variables.tier }}"),
                      rule("b", "equal_to", "sales")], {"dept": "sales", "tier": "VIP"}, "a",
                     id="rule-input-override"),
        pytest.param([rule("a", "equal_to", "sales", input="{{ flow.variables.tier }}"),
                      rule("b", "equal_to", "sales")], {"dept": "sales", "tier": "gold"}, "b",
                     id="override-only-for-its-rule"),
        pytest.param([rule("a", "greater_than", "9")], {"dept": "10"}, "a", id="numeric"),
        pytest.param([rule("a", "is_blank")], {}, "a", id="undefined-input-is-blank"),
    ],
)  # fmt: skip
def test_decision_node(rules: list[dict[str, Any]], variables: dict[str, str], expected: str) -> None:
    ids = [r["id"] for r in rules]
    flow = outcome_flow(decision("route", "{{ flow.variables.dept }}", *rules), (*ids, "default"),
                        variables=variables)  # fmt: skip
    call = Call(flow)
    result = call.start()
    assert ended_at(call) == f"out_{expected}"
    matched = [e for e in result.events if e.type == "decision.matched"]
    assert [(e.node_id, e.data["rule"]) for e in matched] == [("route", expected)]


# --- transferNode ----------------------------------------------------------------------------------

TRANSFER_OUTCOMES = ("completed", "noAnswer", "busy", "failed")


def test_transfer_to_department_renders_context_and_priority() -> None:
    target = department("billing", priority=7, context={"caller": "{{ caller.from }}", "reason": "menu",
                                                        "account": "{{ flow.variables.account }}"})  # fmt: skip
    flow = outcome_flow(transfer("xfer", target, message="One moment, {{ flow.variables.name }}."),
                        TRANSFER_OUTCOMES, variables={"account": "A-17", "name": "Ada"})  # fmt: skip
    result = Call(flow).start()
    assert result.actions == (
        Say("One moment, Ada.", None, "en-US"),
        TransferToDepartment("billing", 7, {"caller": "+15005550006", "reason": "menu", "account": "A-17"}),
    )
    assert (result.state.waiting, result.state.cursor) == ("queue", "xfer")
    started = [e for e in result.events if e.type == "transfer.started"]
    assert [e.data for e in started] == [{"department": "billing", "priority": 7}]


@pytest.mark.parametrize(
    ("target", "data", "expected"),
    [
        pytest.param({"type": "number", "numbers": ["+14155550100", "+14155550101"]},
                     {"callerId": "+13072249663", "timeout": 25, "record": True},
                     Dial(numbers=("+14155550100", "+14155550101"), caller_id="+13072249663", timeout=25,
                          record=True), id="numbers"),
        pytest.param({"type": "sip", "uri": "sip:agent@pbx.example.com"}, {},
                     Dial(sip="sip:agent@pbx.example.com"), id="sip-defaults"),
        pytest.param({"type": "client", "identity": "alice"}, {"timeout": 60},
                     Dial(client="alice", timeout=60), id="client"),
    ],
)  # fmt: skip
def test_transfer_dials(target: dict[str, Any], data: dict[str, Any], expected: Dial) -> None:
    result = Call(outcome_flow(transfer("xfer", target, **data), TRANSFER_OUTCOMES)).start()
    assert result.actions == (expected,)
    assert (result.state.waiting, result.state.cursor) == ("dial", "xfer")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("completed", "completed"), ("answered", "completed"), ("busy", "busy"), ("no-answer", "noAnswer"),
     ("failed", "failed"), ("canceled", "failed"), ("something-new", "failed")],
)  # fmt: skip
def test_dial_call_status_maps_to_outcome(status: str, outcome: str) -> None:
    call = Call(outcome_flow(transfer("xfer", {"type": "number", "numbers": ["+14155550100"]}),
                             TRANSFER_OUTCOMES))  # fmt: skip
    call.start()
    result = call.send(DialEnded(status, 42))
    assert ended_at(call) == f"out_{outcome}"
    assert result.state.widgets["xfer"] == {"DialCallStatus": status, "DialCallDuration": 42}
    assert [e.data for e in result.events if e.type == "transfer.ended"] == [{"outcome": outcome}]


@pytest.mark.parametrize(
    ("queue_result", "outcome"),
    [("bridged", "completed"), ("queue-full", "busy"), ("leave", "noAnswer"), ("redirected", "noAnswer"),
     ("error", "failed"), ("system-error", "failed"), ("hangup", "failed")],
)  # fmt: skip
def test_queue_result_maps_to_outcome(queue_result: str, outcome: str) -> None:
    call = Call(outcome_flow(transfer("xfer", department()), TRANSFER_OUTCOMES))
    call.start()
    result = call.send(QueueEnded(queue_result, 17))
    assert ended_at(call) == f"out_{outcome}"
    assert result.state.widgets["xfer"] == {"QueueResult": queue_result, "QueueTime": 17}


# --- setVariablesNode ------------------------------------------------------------------------------


def test_set_variables_renders_templates_in_order() -> None:
    node = set_vars("vars", greeting="Hi {{ caller.from }}", next_count="{{ flow.variables.count | plus: 1 }}",
                    copy="{{ flow.variables.greeting }}!",
                    fallback="{{ flow.variables.nope | default: 'x' }}")  # fmt: skip
    flow = compiled([start(), node, say("s", "{{ flow.variables.copy }}")], chain("start", "vars", "s"),
                    variables={"count": 2})  # fmt: skip
    result = Call(flow).start()
    assert result.state.variables == {"count": 2, "greeting": "Hi +15005550006", "next_count": "3",
                                      "copy": "Hi +15005550006!", "fallback": "x"}  # fmt: skip
    assert result.actions[0] == Say("Hi +15005550006!", None, "en-US")


# --- httpRequestNode -------------------------------------------------------------------------------


def http_flow(**data: Any) -> CompiledFlow:
    node = http("lookup", **data)
    nodes = [start(), node, say("ok", "Hello {{ widgets.lookup.parsed.name }}, {{ flow.variables.info.balance }}."),
             say("bad", "failed {{ widgets.lookup.status_code }}")]  # fmt: skip
    edges = [edge("start", "lookup"), edge("lookup", "ok", "success"), edge("lookup", "bad", "failed")]
    return compiled(nodes, edges, variables={"account": "123", "token": "s3cr3t"})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"url": "https://api.example.com/accounts?v=1",
             "parameters": [{"name": "acct", "value": "{{ flow.variables.account }}"},
                            {"name": "q", "value": "a b&c"}],
             "headers": {"Authorization": "Bearer {{ flow.variables.token }}"}},
            HttpRequest("GET", "https://api.example.com/accounts?v=1&acct=123&q=a+b%26c",
                        {"Authorization": "Bearer s3cr3t"}, None, "application/json", 3.0),
            id="get-parameters-appended"),
        pytest.param(
            {"url": "https://api.example.com/a/{{ flow.variables.account }}",
             "parameters": [{"name": "x", "value": "1"}]},
            HttpRequest("GET", "https://api.example.com/a/123?x=1", {}, None, "application/json", 3.0),
            id="get-first-parameter"),
        pytest.param(
            {"method": "POST", "body": '{"account": "{{ flow.variables.account }}"}', "timeoutSeconds": 5},
            HttpRequest("POST", "https://api.example.com/x", {}, '{"account": "123"}', "application/json", 5.0),
            id="post-json-body"),
        pytest.param(
            {"method": "POST", "parameters": [{"name": "account", "value": "{{ flow.variables.account }}"}]},
            HttpRequest("POST", "https://api.example.com/x", {}, json.dumps({"account": "123"}),
                        "application/json", 3.0),
            id="post-json-from-parameters"),
        pytest.param(
            {"method": "POST", "contentType": "application/x-www-form-urlencoded",
             "parameters": [{"name": "account", "value": "{{ flow.variables.account }}"},
                            {"name": "note", "value": "a b"}]},
            HttpRequest("POST", "https://api.example.com/x", {}, "account=123&note=a+b",
                        "application/x-www-form-urlencoded", 3.0),
            id="post-form"),
    ],
)  # fmt: skip
def test_http_request_is_returned_as_an_action(data: dict[str, Any], expected: HttpRequest) -> None:
    result = Call(http_flow(**data)).start()
    assert result.actions == (expected,)
    assert (result.state.waiting, result.state.cursor) == ("http", "lookup")


def test_http_success_exposes_parsed_json_and_save_as() -> None:
    call = Call(http_flow(saveAs="info"))
    call.start()
    body = json.dumps({"name": "Ada", "balance": 12.5})
    result = call.send(HttpCompleted(200, body))
    assert ended_at(call) == "ok"
    assert result.actions[0] == Say("Hello Ada, 12.5.", None, "en-US")
    assert result.state.variables["info"] == {"name": "Ada", "balance": 12.5}
    # JSON is kept once, parsed; the raw text only when it is not JSON (the state is stored every turn).
    assert result.state.widgets["lookup"] == {"status_code": 200, "body": "",
                                              "parsed": {"name": "Ada", "balance": 12.5}, "error": None}  # fmt: skip


def test_http_success_with_text_body_saves_the_text() -> None:
    call = Call(http_flow(saveAs="info"))
    call.start()
    result = call.send(HttpCompleted(204, "not json"))
    assert ended_at(call) == "ok"
    assert result.state.variables["info"] == "not json"
    assert result.state.widgets["lookup"]["parsed"] is None


@pytest.mark.parametrize(
    ("event", "status"),
    [
        pytest.param(HttpCompleted(500, '{"name": "x"}'), 500, id="server-error"),
        pytest.param(HttpCompleted(404, ""), 404, id="not-found"),
        pytest.param(HttpCompleted(302, '{"name": "x"}'), 302, id="redirect-is-not-success"),
        pytest.param(HttpCompleted(199, ""), 199, id="below-200"),
        pytest.param(HttpCompleted(0, "", "timed out after 3s"), 0, id="no-response"),
        pytest.param(HttpCompleted(200, "{}", "connection reset"), 200, id="error-wins-over-200"),
    ],
)
def test_http_failures(event: HttpCompleted, status: int) -> None:
    call = Call(http_flow(saveAs="info"))
    call.start()
    result = call.send(event)
    assert ended_at(call) == "bad"
    assert result.actions[0] == Say(f"failed {status}", None, "en-US")
    assert "info" not in result.state.variables
    assert result.state.widgets["lookup"]["error"] == event.error


def test_http_rendered_non_http_url_fails_without_a_request() -> None:
    flow = compiled([start(), http("lookup", url="{{ flow.variables.base }}/accounts"), say("bad", "down")],
                    [edge("start", "lookup"), edge("lookup", "bad", "failed")],
                    variables={"base": "ftp://files.example.com"})  # fmt: skip
    call = Call(flow)
    result = call.start()
    assert not any(isinstance(a, HttpRequest) for a in result.actions)
    assert ended_at(call) == "bad"
    widget = result.state.widgets["lookup"]
    assert widget["status_code"] == 0
    assert "not http(s)" in widget["error"]
    assert [e.data for e in result.events if e.type == "http.failed"] == [{"error": "bad_url"}]


# --- voicemailNode ---------------------------------------------------------------------------------


def test_voicemail_prompts_and_records() -> None:
    node = voicemail("vm", prompt="Leave a message.", maxLength=60, finishOnKey="*", playBeep=False,
                     transcribe=True, timeout=9)  # fmt: skip
    result = Call(outcome_flow(node, ("recorded", "noAudio"))).start()
    assert result.actions == (Say("Leave a message.", None, "en-US"), Record(60, "*", False, True, 9))
    assert (result.state.waiting, result.state.cursor) == ("record", "vm")


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        pytest.param(RecordingEnded("https://api.twilio.com/rec/RE1", 14, recording_sid="RE1"), "recorded",
                     id="recorded"),
        pytest.param(RecordingEnded(None, 0), "noAudio", id="no-url"),
        pytest.param(RecordingEnded("https://api.twilio.com/rec/RE2", 0), "noAudio", id="zero-seconds"),
    ],
)  # fmt: skip
def test_voicemail_outcomes(event: RecordingEnded, outcome: str) -> None:
    call = Call(outcome_flow(voicemail("vm"), ("recorded", "noAudio")))
    call.start()
    result = call.send(event)
    assert ended_at(call) == f"out_{outcome}"
    assert result.state.widgets["vm"] == {"RecordingUrl": event.url or "", "RecordingDuration": event.duration,
                                          "RecordingSid": event.recording_sid or ""}  # fmt: skip


# --- hangupNode ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "actions"),
    [(None, (Hangup(),)), ("Bye {{ caller.to }}.", (Say("Bye +13072249663.", None, "en-US"), Hangup()))],
)
def test_hangup_node(message: str | None, actions: tuple[Any, ...]) -> None:
    flow = compiled([start(), hangup("bye", message)], chain("start", "bye"))
    result = Call(flow).start()
    assert result.actions == actions
    state = result.state
    assert (state.status, state.end_reason, state.cursor, state.waiting) == ("ended", "hangup_node", None, None)
    assert result.events[-1].type == "call.ended"
    assert result.events[-1].data == {"reason": "hangup_node"}


# --- hoursNode -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "outcome"), [(True, "open"), (False, "closed"), (None, "closed")], ids=["open", "closed", "unknown"]
)
def test_hours_node_asks_the_schedule_lookup(answer: bool | None, outcome: str) -> None:
    asked: list[tuple[str, datetime]] = []

    def lookup(name: str, at: datetime) -> bool | None:
        asked.append((name, at))
        return answer

    call = Call(outcome_flow(hours("h", "support_hours"), ("open", "closed")), schedules=lookup)
    result = call.start()
    assert ended_at(call) == f"out_{outcome}"
    assert asked == [("support_hours", NOW)]
    unknown = [e.data for e in result.events if e.type == "hours.unknown_schedule"]
    assert unknown == ([{"schedule": "support_hours"}] if answer is None else [])


@pytest.mark.parametrize(
    ("table", "outcome"),
    [({"business_hours": lambda at: True}, "open"), ({"other": lambda at: True}, "closed"), (None, "closed")],
    ids=["named-open", "unknown-schedule", "no-lookup"],
)
def test_hours_node_with_schedule_table(table: Any, outcome: str) -> None:
    lookup = engine.schedule_lookup_from(table) if table is not None else None
    call = Call(outcome_flow(hours("h"), ("open", "closed")), schedules=lookup)
    call.start()
    assert ended_at(call) == f"out_{outcome}"


# --- guards and unhandled outcomes -----------------------------------------------------------------


def silent_loop_flow() -> CompiledFlow:
    return compiled([start(), collect("menu", maxAttempts=1)],
                    [edge("start", "menu"), edge("menu", "menu", "noInput")])  # fmt: skip


def test_silent_caller_in_a_collect_loop_hits_the_loop_guard() -> None:
    call = Call(silent_loop_flow())
    call.start()
    silences = 0
    while call.state.status == "active":
        call.send(NoInput())
        silences += 1
        assert silences <= engine.MAX_STREAK
    assert silences == engine.MAX_STREAK
    assert call.state.end_reason == "loop_guard"
    assert call.state.path.count("menu") == engine.MAX_STREAK
    assert call.last.actions == (Say(ERROR, None, "en-US"), Hangup())
    assert call.last.events[-1].data == {"reason": "loop_guard", "limit": engine.MAX_STREAK}


def test_caller_input_resets_the_loop_streak() -> None:
    flow = compiled([start(), collect("menu", maxAttempts=1, validation={"allowedValues": ["1"]})],
                    [edge("start", "menu"), edge("menu", "menu", "noMatch")])  # fmt: skip
    call = Call(flow)
    call.start()
    for _ in range(engine.MAX_STREAK * 3):
        call.send(DigitsEntered("9"))
    assert call.state.status == "active"
    assert call.state.path.count("menu") == engine.MAX_STREAK * 3 + 1


def test_step_limit_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_STEPS", 5)
    flow = compiled([start(), collect("menu", maxAttempts=1, validation={"allowedValues": ["1"]})],
                    [edge("start", "menu"), edge("menu", "menu", "noMatch")])  # fmt: skip
    call = Call(flow)
    call.start()
    turns = 0
    while call.state.status == "active":
        call.send(DigitsEntered("9"))
        turns += 1
        assert turns < 10
    assert call.state.end_reason == "step_limit"
    assert call.state.steps == 6
    assert len(call.state.path) == 5
    assert call.last.actions == (Say(ERROR, None, "en-US"), Hangup())


@pytest.mark.parametrize(
    ("nodes", "edges", "events", "node_id", "outcome"),
    [
        pytest.param([say("s", "Hi.")], [edge("start", "s")], [], "s", "next", id="say-next"),
        pytest.param([collect("menu")], [edge("start", "menu")], [DigitsEntered("1")], "menu", "success",
                     id="collect-success"),
        pytest.param([decision("d", "x", rule("r", "equal_to", "y"))], [edge("start", "d")], [], "d",
                     "default", id="decision-default"),
    ],
)  # fmt: skip
def test_unhandled_outcome_says_goodbye_and_hangs_up(nodes: list[Any], edges: list[Any], events: list[Any],
                                                     node_id: str, outcome: str) -> None:  # fmt: skip
    call = Call(compiled([start(), *nodes], edges, goodbyeMessage="Bye from {{ flow.id }}."))
    call.start()
    result = call.send_all(events)
    assert result.actions[-2:] == (Say("Bye from test_flow.", None, "en-US"), Hangup())
    assert (result.state.status, result.state.end_reason) == ("ended", "unhandled_outcome")
    ended = result.events[-1]
    assert (ended.type, ended.node_id, ended.data) == ("call.ended", node_id,
                                                       {"reason": "unhandled_outcome", "outcome": outcome})  # fmt: skip


def test_default_goodbye_message() -> None:
    result = Call(compiled([start()])).start()
    assert result.actions == (Say(GOODBYE, None, "en-US"), Hangup())


# --- illegal events --------------------------------------------------------------------------------


def waiting_flow(kind: str) -> CompiledFlow:
    node = {
        "input": collect("w"),
        "dial": transfer("w", {"type": "number", "numbers": ["+14155550100"]}),
        "queue": transfer("w", department()),
        "record": voicemail("w"),
        "http": http("w"),
    }[kind]
    return compiled([start(), node], [edge("start", "w")])


ALL_EVENTS: dict[str, list[InboundEvent]] = {
    "input": [DigitsEntered("1"), SpeechHeard("yes"), NoInput()],
    "dial": [DialEnded("completed")],
    "queue": [DepartmentEnded("completed"), QueueEnded("bridged")],
    "record": [RecordingEnded("https://api.twilio.com/r", 3)],
    "http": [HttpCompleted(200, "{}")],
}
ILLEGAL = [
    pytest.param(kind, event, id=f"{kind}-{type(event).__name__}")
    for kind in ALL_EVENTS
    for other, events in ALL_EVENTS.items()
    if other != kind
    for event in events
]


@pytest.mark.parametrize(("kind", "event"), ILLEGAL)
def test_event_the_call_is_not_waiting_for_is_refused(kind: str, event: Any) -> None:
    call = Call(waiting_flow(kind))
    state = call.start().state
    assert state.waiting == kind
    before = state.model_dump()
    with pytest.raises(UnexpectedEvent, match=f"waits for {kind} at node 'w'"):
        engine.step(call.flow, state, event, NOW)
    assert state.model_dump() == before


@pytest.mark.parametrize(("kind", "event"), [(k, e) for k, events in ALL_EVENTS.items() for e in events])
def test_the_accepted_event_is_taken(kind: str, event: Any) -> None:
    call = Call(waiting_flow(kind))
    call.start()
    result = call.send(event)
    assert result.state.seq == 2


def test_digits_while_dialling_are_refused() -> None:
    call = Call(waiting_flow("dial"))
    state = call.start().state
    before = state.model_dump()
    with pytest.raises(UnexpectedEvent, match="not for DigitsEntered"):
        engine.step(call.flow, state, DigitsEntered("1"), NOW)
    assert state.model_dump() == before


@pytest.mark.parametrize(
    "event",
    [DigitsEntered("1"), NoInput(), DialEnded("completed"), DepartmentEnded("completed"), QueueEnded("bridged"),
     HttpCompleted(200),
     RecordingEnded(None), CallStarted(dict(CALL_PARAMS))],
    ids=lambda e: type(e).__name__,
)  # fmt: skip
def test_no_event_is_taken_after_the_call_ended(event: Any) -> None:
    call = Call(compiled([start(), hangup("bye")], chain("start", "bye")))
    state = call.start().state
    assert state.status == "ended"
    before = state.model_dump()
    with pytest.raises(UnexpectedEvent):
        engine.step(call.flow, state, event, NOW)
    assert state.model_dump() == before


def test_call_started_twice_is_refused() -> None:
    call = Call(waiting_flow("input"))
    state = call.start().state
    before = state.model_dump()
    with pytest.raises(UnexpectedEvent, match="already started"):
        engine.step(call.flow, state, CallStarted(dict(CALL_PARAMS)), NOW)
    assert state.model_dump() == before


def test_event_before_the_call_started_is_refused() -> None:
    with pytest.raises(UnexpectedEvent, match="has not started"):
        engine.step(waiting_flow("input"), None, DigitsEntered("1"), NOW)


def test_call_started_needs_a_call_sid() -> None:
    with pytest.raises(EngineError, match="CallSid"):
        engine.step(waiting_flow("input"), None, CallStarted({"From": "+15005550006"}), NOW)


# --- determinism and sequencing --------------------------------------------------------------------

SCRIPT: list[InboundEvent] = [NoInput(), DigitsEntered("2"), HttpCompleted(200, '{"name": "Ada"}'),
                              DialEnded("busy", 0), RecordingEnded("https://api.twilio.com/r", 9)]  # fmt: skip


def scripted_flow() -> CompiledFlow:
    nodes = [start(), say("hello", "Hi {{ caller.from }} at {{ now.time }}."),
             collect("menu", validation={"allowedValues": ["1", "2"]}),
             set_vars("vars", picked="{{ flow.variables.choice | plus: 10 }}"),
             http("lookup", parameters=[{"name": "p", "value": "{{ flow.variables.picked }}"}]),
             transfer("agent", {"type": "number", "numbers": ["+14155550100"]},
                      message="Calling for {{ widgets.lookup.parsed.name }}."),
             voicemail("vm"), hangup("bye", "Bye.")]  # fmt: skip
    edges = [*chain("start", "hello", "menu"), edge("menu", "vars", "success"), edge("vars", "lookup"),
             edge("lookup", "agent", "success"), edge("agent", "vm", "busy"),
             edge("vm", "bye", "recorded")]  # fmt: skip
    return compiled(nodes, edges)


def run_script(flow: CompiledFlow) -> Call:
    call = Call(flow)
    call.start()
    call.send_all(SCRIPT)
    return call


def test_same_inputs_give_identical_results() -> None:
    first, second = run_script(scripted_flow()), run_script(scripted_flow())
    assert first.results == second.results
    assert first.state.end_reason == "hangup_node"
    assert first.state.variables == {"choice": "2", "picked": "12"}
    middle = first.results[2]
    again = engine.step(first.flow, first.results[1].state, SCRIPT[1], NOW)
    assert again == middle


def test_seq_increments_by_one_per_step() -> None:
    call = run_script(scripted_flow())
    assert [r.state.seq for r in call.results] == list(range(1, len(SCRIPT) + 2))
    for result in call.results:
        assert {e.seq for e in result.events} == {result.state.seq}


def test_started_state_records_the_call() -> None:
    call = Call(waiting_flow("input"))
    state = call.start().state
    assert (state.call_sid, state.flow_id, state.flow_version) == (CALL_PARAMS["CallSid"], "test_flow", "draft")
    assert state.trigger == CALL_PARAMS
    assert state.started_at == NOW.isoformat()
    assert state.model_dump(mode="json")["seq"] == 1


def test_now_is_formatted_when_read_and_prints_like_its_values() -> None:
    from common.core.engine import LocalNow

    now = LocalNow(datetime(2026, 12, 1, 15, 4, tzinfo=UTC), "America/New_York")
    assert now["time"] == "10:04" and now["weekday"] == "Tuesday" and now["date"] == "2026-12-01"
    assert dict(now) == {"iso": "2026-12-01T10:04:00-05:00", "date": "2026-12-01", "time": "10:04",
                         "weekday": "Tuesday"}  # fmt: skip
    assert str(now) == str(dict(now))  # a bare {{ now }} never shows an object's repr to a caller
