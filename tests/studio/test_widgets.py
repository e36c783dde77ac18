"""Per widget: each property becomes the node field it maps to, each event the edge it leads along."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from studiokit import codes, definition, edges, imported, nodes, run, said, widget


def say(name: str, text: str = "") -> dict[str, Any]:
    return widget(name, "say-play", [("audioComplete", None)], say=text or f"This is {name}.")


TARGETS = [say("A"), say("B"), say("C"), say("D")]


def one(type_: str, transitions: Sequence[tuple[str, str | None]], **properties: Any) -> Any:
    """A flow whose call reaches widget ``w`` of ``type_`` first; A-D are say widgets it can lead to."""
    return imported(definition(widget("w", type_, transitions, **properties), *TARGETS))


def data(result: Any, node_id: str = "w") -> dict[str, Any]:
    return nodes(result)[node_id]["data"]


# --- properties -> node fields ------------------------------------------------------------------------

PROPERTIES = [
    ("say-play", {"say": "Hello {{trigger.call.From}}", "voice": "Polly.Joanna", "language": "en-GB", "loop": "3"},
     "sayNode", {"text": "Hello {{trigger.call.From}}", "voice": "Polly.Joanna", "language": "en-GB", "loop": 3}),
    ("say-play", {"play": "https://example.com/a.mp3", "loop": 1}, "sayNode",
     {"audioUrl": "https://example.com/a.mp3"}),
    ("gather-input-on-call", {"say": "Press 1", "number_of_digits": "2", "finish_on_key": "*", "timeout": "7",
                              "speech_timeout": "3", "speech_model": "phone_call", "hints": "sales, support",
                              "language": "es-ES"},
     "collectNode", {"prompt": "Press 1", "numDigits": 2, "finishOnKey": "*", "timeout": 7, "speechTimeout": 3,
                     "speechModel": "phone_call", "hints": ["sales", "support"], "language": "es-ES",
                     "inputType": "dtmf speech", "maxAttempts": 1, "variable": "studio_w"}),
    ("gather-input-on-call", {"play": "https://example.com/menu.mp3", "speech_timeout": "auto"}, "collectNode",
     {"promptAudioUrl": "https://example.com/menu.mp3", "timeout": 5}),
    ("set-variables", {"variables": [{"key": "count", "value": "{{flow.variables.count | plus: 1}}"},
                                     {"key": "tier", "value": "gold"}]},
     "setVariablesNode", {"variables": [{"name": "count", "value": "{{flow.variables.count | plus: 1}}"},
                                        {"name": "tier", "value": "gold"}]}),
    ("make-http-request", {"method": "POST", "url": "https://api.example.com/x", "content_type":
                           "application/x-www-form-urlencoded;charset=utf-8",
                           "parameters": [{"key": "from", "value": "{{trigger.call.From}}"}]},
     "httpRequestNode", {"method": "POST", "url": "https://api.example.com/x",
                         "contentType": "application/x-www-form-urlencoded",
                         "parameters": [{"name": "from", "value": "{{trigger.call.From}}"}]}),
    ("make-http-request", {"method": "POST", "url": "https://api.example.com/j", "content_type": "application/json",
                           "body": "{\"n\": \"{{trigger.call.From}}\"}"},
     "httpRequestNode", {"method": "POST", "contentType": "application/json",
                         "body": "{\"n\": \"{{trigger.call.From}}\"}"}),
    ("make-http-request", {"url": "https://api.example.com/g"}, "httpRequestNode", {"method": "GET"}),
    ("run-function", {"url": "https://fn-1234.twil.io/lookup", "parameters": [{"key": "a", "value": "1"}]},
     "httpRequestNode", {"method": "POST", "url": "https://fn-1234.twil.io/lookup",
                         "contentType": "application/x-www-form-urlencoded",
                         "parameters": [{"name": "a", "value": "1"}]}),
    ("connect-call-to", {"noun": "number", "to": "+14155550100", "caller_id": "+14155550199", "timeout": "45",
                         "record": "true"},
     "transferNode", {"target": {"type": "number", "numbers": ["+14155550100"]}, "callerId": "+14155550199",
                      "timeout": 45, "record": True}),
    ("connect-call-to", {"noun": "number-multi", "to": "+14155550100, +14155550101"}, "transferNode",
     {"target": {"type": "number", "numbers": ["+14155550100", "+14155550101"]}}),
    ("connect-call-to", {"noun": "client", "to": "client:alice"}, "transferNode",
     {"target": {"type": "client", "identity": "alice"}}),
    ("connect-call-to", {"noun": "sip", "sip_endpoint": "sip:agent@pbx.example.com"}, "transferNode",
     {"target": {"type": "sip", "uri": "sip:agent@pbx.example.com"}}),
    ("enqueue-call", {"queue_name": "sales", "priority": "7", "timeout": "600"}, "transferNode",
     {"target": {"type": "department", "department": "sales", "priority": 7, "maxWaitSeconds": 600}}),
    ("send-to-flex", {"workflow": "WW0123", "priority": "{{flow.variables.p}}",
                      "attributes": "{\"name\": \"{{trigger.call.From}}\", \"type\": \"inbound\"}"},
     "transferNode", {"target": {"type": "department", "department": "support", "priority": "{{flow.variables.p}}",
                                 "context": {"name": "{{trigger.call.From}}", "type": "inbound"}}}),
    ("record-voicemail", {"max_length": "30", "timeout": "4", "play_beep": "false", "transcribe": "true",
                          "finish_on_key": "*"},
     "voicemailNode", {"maxLength": 30, "timeout": 4, "playBeep": False, "transcribe": True, "finishOnKey": "*"}),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "properties", "node_type", "expected"), PROPERTIES)
def test_properties_become_node_fields(kind: str, properties: dict[str, Any], node_type: str,
                                       expected: dict[str, Any]) -> None:  # fmt: skip
    result = imported(definition(widget("w", kind, [], **properties), *TARGETS), department_map={"WW0123": "support"},
                      departments=["sales", "support"])  # fmt: skip
    node = nodes(result)["w"]
    assert node["type"] == node_type
    assert {k: node["data"].get(k) for k in expected} == expected
    assert node["position"] == {"x": 10.0, "y": 20.0}
    assert result.report["validation"]["errors"] == []


# --- events -> edges ------------------------------------------------------------------------------------

EVENTS = [
    ("say-play", {"say": "Hi"}, [("audioComplete", "A")], {("w", "next", "A")}),
    ("say-play", {"say": "Hi"}, [("audioCompleted", "B")], {("w", "next", "B")}),
    ("gather-input-on-call", {"say": "Go"}, [("keypress", "A"), ("speech", "A"), ("timeout", "C")],
     {("w", "success", "A"), ("w", "noInput", "C")}),
    ("gather-input-on-call", {"say": "Go"}, [("keypress", "A"), ("speech", "B"), ("timeout", "C")],
     {("w", "success", "w:input"), ("w:input", "keypress", "A"), ("w:input", "default", "B"), ("w", "noInput", "C")}),
    ("set-variables", {"variables": [{"key": "x", "value": "1"}]}, [("next", "A")], {("w", "next", "A")}),
    ("make-http-request", {"url": "https://e.example/x"}, [("success", "A"), ("failed", "B")],
     {("w", "success", "A"), ("w", "failed", "B")}),
    ("make-http-request", {"url": "https://e.example/x"}, [("success", "A"), ("fail", "B")],
     {("w", "success", "A"), ("w", "failed", "B")}),
    ("run-function", {"url": "https://e.example/f"}, [("success", "A"), ("fail", "B")],
     {("w", "success", "A"), ("w", "failed", "B")}),
    ("run-function", {"url": "https://e.example/f"}, [("success", "A"), ("failed", "B")],
     {("w", "success", "A"), ("w", "failed", "B")}),
    ("connect-call-to", {"to": "+14155550100"}, [("callCompleted", "A")],
     {("w", o, "A") for o in ("completed", "noAnswer", "busy", "failed")}),
    ("connect-call-to", {"to": "+14155550100"}, [("callComplete", "B")],
     {("w", o, "B") for o in ("completed", "noAnswer", "busy", "failed")}),
    ("enqueue-call", {"queue_name": "sales"}, [("callComplete", "A"), ("failedToEnqueue", "B"), ("callFailure", "C")],
     {("w", "completed", "A"), ("w", "timeout", "A"), ("w", "callbackRequested", "A"), ("w", "voicemail", "A"),
      ("w", "busy", "B"), ("w", "closed", "B"), ("w", "noAgents", "B"), ("w", "failed", "C")}),
    ("record-voicemail", {}, [("recordingComplete", "A"), ("noAudio", "B"), ("hangup", None)],
     {("w", "recorded", "A"), ("w", "noAudio", "B")}),
    ("send-to-flex", {"workflow": "WW1"}, [("callComplete", "A"), ("failedToEnqueue", "B"), ("callFailure", "C")],
     {("w", "completed", "A"), ("w", "timeout", "A"), ("w", "callbackRequested", "A"), ("w", "voicemail", "A"),
      ("w", "busy", "B"), ("w", "closed", "B"), ("w", "noAgents", "B"), ("w", "failed", "C")}),
    ("split-based-on", {"input": "{{flow.variables.x}}"}, [("nomatch", "B")], {("w", "next", "B")}),
    ("record-call", {"record_call": "true"}, [("success", "A"), ("failed", "B")],
     {("w", "success", "A"), ("w", "failed", "B")}),
    ("record-call", {"record_call": "true"}, [("success", "A"), ("fail", "C")],
     {("w", "success", "A"), ("w", "failed", "C")}),
    ("send-message", {"body": "Hi"}, [("sent", "A"), ("failed", "B")], {("w", "sent", "A"), ("w", "failed", "B")}),
    ("send-message", {"body": "Hi"}, [("sent", "A"), ("fail", "C")], {("w", "sent", "A"), ("w", "failed", "C")}),
    ("add-twiml-redirect", {"url": "https://x.example/t"}, [("return", "A"), ("timeout", "B"), ("fail", "C")],
     {("w", "return", "A"), ("w", "timeout", "B"), ("w", "failed", "C")}),
    ("add-twiml-redirect", {"url": "https://x.example/t"}, [("return", "A"), ("failed", "C")],
     {("w", "return", "A"), ("w", "failed", "C"), ("w", "timeout", "end")}),
    # widgets that cannot act on a call: skipped, going on by their failure (or only) event
    ("run-subflow", {"flow_sid": "FWnotgiven"}, [("completed", "A"), ("failed", "B")], {("w", "next", "B")}),
    ("make-outgoing-call-v2", {"to": "+14155550100"}, [("answered", "A"), ("busy", "B"), ("noAnswer", "B"),
                                                       ("failed", "C")], {("w", "next", "C")}),
    ("capture-payments", {"payment_amount": "10"}, [("success", "A"), ("providerError", "B")], {("w", "next", "B")}),
    ("fork-stream", {"url": "wss://x.example"}, [("next", "A")], {("w", "next", "A")}),
    ("send-and-wait-for-reply", {"body": "Reply"}, [("incomingMessage", "A"), ("timeout", "B"),
                                                    ("deliveryFailure", "C")], set()),  # it ends the call
]  # fmt: skip


@pytest.mark.parametrize(("kind", "properties", "transitions", "expected"), EVENTS)
def test_events_become_edges(kind: str, properties: dict[str, Any], transitions: list[tuple[str, str]],
                             expected: set[tuple[str, str, str]]) -> None:  # fmt: skip
    result = one(kind, transitions, **properties)
    leaving = {e for e in edges(result) if e[0].startswith("w")}
    assert leaving == expected


def test_a_transition_without_next_ends_the_execution_silently() -> None:
    result = one("say-play", [("audioComplete", None)], say="Bye now")
    assert ("w", "next", "end") in edges(result)
    end = nodes(result)["end"]
    assert end["type"] == "hangupNode" and "message" not in end["data"]
    sim = run(result, [])
    assert said(sim) == ["Bye now"] and sim.path == ["Trigger", "w", "end"]


def test_a_next_naming_no_widget_ends_the_execution_with_a_warning() -> None:
    result = one("say-play", [("audioComplete", "Nowhere")], say="Hi")
    assert ("w", "next", "end") in edges(result)
    assert ("w", "missing_widget") in codes(result)


def test_an_event_the_widget_does_not_have_is_reported_and_not_followed() -> None:
    result = one("say-play", [("audioComplete", "A"), ("exploded", "B")], say="Hi")
    assert ("w", "unknown_event") in codes(result)
    assert {e for e in edges(result) if e[0] == "w"} == {("w", "next", "A")}


def test_gather_keypress_and_speech_lead_apart_on_a_call() -> None:
    result = one("gather-input-on-call", [("keypress", "A"), ("speech", "B"), ("timeout", "C")], say="Say or press")
    assert said(run(result, ["5"]))[-1] == "This is A."
    assert said(run(result, ["speech:billing"]))[-1] == "This is B."
    silent = run(result, ["silence"])
    assert said(silent)[-1] == "This is C." and silent.path[-3:] == ["w", "C", "end"]
    keyed = run(result, ["42#"])
    assert keyed.state is not None and keyed.state.widgets["w"]["Digits"] == "42"


def test_connect_call_to_every_dial_status_follows_call_completed() -> None:
    result = one("connect-call-to", [("callCompleted", "A"), ("hangup", None)], to="+14155550100")
    for status in ("completed", "busy", "no-answer", "failed"):
        sim = run(result, [f"dial:{status}"])
        assert sim.path[-2] == "A" and sim.state is not None
        assert sim.state.widgets["w"]["DialCallStatus"] == status
    assert ("w", "hangup_branch") not in codes(result)  # hangup leads nowhere: nothing to warn about
    leads = one("connect-call-to", [("callCompleted", "A"), ("hangup", "B")], to="+14155550100")
    assert ("w", "hangup_branch") in codes(leads)


def test_record_voicemail_on_a_call() -> None:
    result = one("record-voicemail", [("recordingComplete", "A"), ("noAudio", "B")], max_length=20)
    recorded = run(result, ["record:https://api.twilio.com/rec/RE1:9"])
    assert recorded.path[-2] == "A"
    assert recorded.state is not None and recorded.state.widgets["w"]["RecordingUrl"].endswith("RE1")
    assert run(result, ["record:none"]).path[-2] == "B"
    assert 'maxLength="20"' in recorded.twiml[0]


def test_split_transitions_keep_their_order_and_all_conditions_must_hold() -> None:
    conditions_1 = [{"friendly_name": "gold", "arguments": ["{{flow.variables.tier}}"], "type": "equal_to",
                     "value": "gold"},
                    {"friendly_name": "big", "arguments": ["{{flow.variables.spend}}"], "type": "greater_than",
                     "value": "100"}]  # fmt: skip
    conditions_2 = [{"friendly_name": "gold", "arguments": ["{{flow.variables.tier}}"], "type": "equal_to",
                     "value": "gold"}]  # fmt: skip
    split = {"name": "w", "type": "split-based-on", "properties": {"input": "{{flow.variables.tier}}"},
             "transitions": [{"event": "noMatch", "next": "C"},
                             {"event": "match", "next": "A", "conditions": conditions_1},
                             {"event": "match", "next": "B", "conditions": conditions_2}]}  # fmt: skip
    for tier, spend, reached in (("gold", "500", "A"), ("gold", "50", "B"), ("silver", "500", "C")):
        setter = widget("set", "set-variables", [("next", "w")],
                        variables=[{"key": "tier", "value": tier}, {"key": "spend", "value": spend}])
        result = imported(definition(setter, split, *TARGETS))
        assert run(result, []).path[-2] == reached, (tier, spend)
