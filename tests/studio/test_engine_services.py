"""The node kinds Studio's widgets need: messageNode, recordCallNode, redirectNode; templated dial
targets; a collectNode without a prompt. Validation, engine turns, TwiML and the simulator."""

from __future__ import annotations

from typing import Any

import pytest
from studiokit import NOW

from common.core import engine, simulator, twiml, validation
from common.core.call import CallStarted, DialEnded, HttpCompleted, Redirect, RedirectEnded, TwilioRequest
from common.core.errors import UnexpectedEvent

CALL = {"CallSid": "CA0123456789abcdef0123456789abcdef", "From": "+15005550006", "To": "+13072249663"}
URLS = twiml.UrlBuilder("https://ivr.example.com")


def node(node_id: str, type_: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "position": {"x": 0, "y": 0}, "data": data}


def flow(first: dict[str, Any], outcomes: dict[str, str] | None = None) -> dict[str, Any]:
    """start -> ``first``; each outcome -> a say node named after it."""
    outcomes = outcomes or {}
    nodes = [node("start", "startNode"), first]
    edges = [{"id": "e0", "source": "start", "target": first["id"]}]
    for i, (outcome, text) in enumerate(outcomes.items(), 1):
        nodes.append(node(outcome, "sayNode", text=text))
        edges.append({"id": f"e{i}", "source": first["id"], "sourceHandle": outcome, "target": outcome})
        nodes.append(node(f"{outcome}_end", "hangupNode"))
        edges.append({"id": f"h{i}", "source": outcome, "target": f"{outcome}_end"})
    return {"id": "t", "name": "T", "nodes": nodes, "edges": edges}


def start(document: dict[str, Any]) -> engine.StepResult:
    return engine.step(validation.compile_flow(document), None, CallStarted(dict(CALL)), NOW)


SMS = node("sms", "messageNode", body="Your code is {{ flow.variables.code | default: '1234' }}",
           mediaUrl="https://img.example.com/a.png")  # fmt: skip
SMS_FLOW = flow(SMS, {"sent": "Sent.", "failed": "Not sent."})


# --- validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "type_", "field"), [
    ({}, "messageNode", "data.body"), ({"body": ""}, "messageNode", "data.body"),
    ({"body": "x" * 1601}, "messageNode", "data.body"), ({"body": "hi {{ x"}, "messageNode", "data.body"),
    ({"url": ""}, "redirectNode", "data.url"), ({"url": "https://x.example", "method": "PUT"}, "redirectNode",
                                                "data.method"),
    ({"url": "https://x.example", "timeout": 0}, "redirectNode", "data.timeout"),
    ({"action": "pause"}, "recordCallNode", "data.action"), ({"channels": "stereo"}, "recordCallNode",
                                                             "data.channels"),
])  # fmt: skip
def test_new_node_fields_are_validated(data: dict[str, Any], type_: str, field: str) -> None:
    report = validation.validate(flow(node("n", type_, **data)))
    assert [(i.node_id, i.field) for i in report.errors] == [("n", field)]


def test_new_nodes_have_their_outcomes() -> None:
    for type_, data, outcomes in (("messageNode", {"body": "x"}, ["sent", "failed"]),
                                  ("recordCallNode", {}, ["success", "failed"]),
                                  ("redirectNode", {"url": "https://x.example"}, ["return", "timeout", "failed"])):
        report = validation.validate(flow(node("n", type_, **data)))
        assert sorted(i.message.split("'")[1] for i in report.warnings if i.code == "unhandled_outcome") == \
            sorted(outcomes)  # fmt: skip
        wrong = flow(node("n", type_, **data), {"bogus": "x"})
        assert [i.code for i in validation.validate(wrong).errors] == ["unknown_outcome"]


def test_a_loop_through_a_redirect_is_not_a_loop_without_input() -> None:
    looping = flow(node("r", "redirectNode", url="https://x.example/t"))
    looping["edges"].append({"id": "back", "source": "r", "sourceHandle": "return", "target": "r"})
    assert "loop_without_input" not in [i.code for i in validation.validate(looping).errors]
    sms_loop = flow(node("m", "messageNode", body="x"))
    sms_loop["edges"].append({"id": "back", "source": "m", "sourceHandle": "sent", "target": "m"})
    assert "loop_without_input" in [i.code for i in validation.validate(sms_loop).errors]


# --- messageNode ----------------------------------------------------------------------------------------


def test_message_node_asks_the_host_for_a_twilio_request_and_waits() -> None:
    first = start(SMS_FLOW)
    assert first.actions == (TwilioRequest("POST", "Messages.json", (
        ("To", "+15005550006"), ("From", "+13072249663"), ("Body", "Your code is 1234"),
        ("MediaUrl", "https://img.example.com/a.png")), "message"),)  # fmt: skip
    assert first.state.waiting == "http"
    document = twiml.render(first.actions, URLS, first.state.seq + 1)
    assert document == ('<?xml version="1.0" encoding="UTF-8"?><Response><Redirect method="POST">'
                        f'{URLS.step(2).replace("&", "&amp;")}</Redirect></Response>')  # fmt: skip
    assert twiml.check(document) == []
    compiled = validation.compile_flow(SMS_FLOW)
    sent = engine.step(compiled, first.state, HttpCompleted(201, '{"sid": "SM1", "status": "queued"}'), NOW)
    assert sent.state.widgets["sms"] == {"status_code": 201, "sid": "SM1", "error": None, "status": "queued"}
    assert sent.state.path[-2] == "sent"
    failed = engine.step(compiled, first.state, HttpCompleted(400, '{"message": "The To number is invalid"}'), NOW)
    assert failed.state.path[-2] == "failed"
    assert failed.state.widgets["sms"]["error"] == "The To number is invalid"
    # a host that has no request to perform answers with an error: the message is not sent
    unsent = engine.step(compiled, first.state, HttpCompleted(0, "", "no pending request"), NOW)
    assert unsent.state.path[-2] == "failed"


def test_a_message_to_nobody_fails_without_a_request() -> None:
    result = start(flow(node("sms", "messageNode", body="Hi", to="{{ flow.variables.missing }}"),
                        {"sent": "Sent.", "failed": "Not sent."}))  # fmt: skip
    assert not any(isinstance(a, TwilioRequest) for a in result.actions)
    assert result.state.path[-3:-1] == ["sms", "failed"]
    assert result.state.widgets["sms"]["error"] == "to rendered empty"


def test_simulator_shows_the_sms_and_answers_for_twilio() -> None:
    compiled = validation.compile_flow(SMS_FLOW)
    sim = simulator.simulate(compiled, [], now=NOW)
    assert [ln.text for ln in sim.transcript][:3] == [
        "sends SMS from +13072249663 to +15005550006 with https://img.example.com/a.png: Your code is 1234",
        "Twilio API answer 201 (message accepted)", "Sent."]
    refused = simulator.simulate(compiled, [], now=NOW, http=[simulator.HttpMock("/Messages.json", 400, "{}")])
    assert refused.path[-2] == "failed" and sim.problems == [] and refused.problems == []


# --- recordCallNode ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "path", "params"), [
    ({}, f"Calls/{CALL['CallSid']}/Recordings.json", (("RecordingChannels", "mono"), ("Trim", "do-not-trim"))),
    ({"channels": "dual", "trim": True}, f"Calls/{CALL['CallSid']}/Recordings.json",
     (("RecordingChannels", "dual"), ("Trim", "trim-silence"))),
    ({"action": "stop"}, f"Calls/{CALL['CallSid']}/Recordings/Twilio.CURRENT.json", (("Status", "stopped"),)),
])  # fmt: skip
def test_record_call_node_starts_or_stops_the_recording(data: dict[str, Any], path: str,
                                                        params: tuple[tuple[str, str], ...]) -> None:  # fmt: skip
    document = flow(node("rec", "recordCallNode", **data), {"success": "Recording.", "failed": "No recording."})
    first = start(document)
    assert first.actions == (TwilioRequest("POST", path, params, "recording"),)
    done = engine.step(validation.compile_flow(document), first.state, HttpCompleted(201, '{"sid": "RE9"}'), NOW)
    assert done.state.widgets["rec"] == {"status_code": 201, "sid": "RE9", "error": None}
    assert done.state.path[-2] == "success"
    sim = simulator.simulate(validation.compile_flow(document), [], now=NOW, call_sid=CALL["CallSid"])
    assert [ln.text for ln in sim.transcript][:3] == [f"Twilio API POST {path} (recording)",
                                                       "Twilio API answer 201 (recording accepted)", "Recording."]


# --- redirectNode -------------------------------------------------------------------------------------------

REDIRECT = flow(node("r", "redirectNode", url="https://other.example.com/twiml?lang={{ trigger.call.To }}"),
                {"return": "Welcome back {{ widgets.r.choice }}.", "timeout": "Timed out.", "failed": "Failed."})


def test_redirect_node_hands_the_call_over_with_a_return_url() -> None:
    first = start(REDIRECT)
    assert first.actions == (Redirect("https://other.example.com/twiml?lang=+13072249663", "POST"),)
    assert first.state.waiting == "redirect"
    document = twiml.render(first.actions, URLS, first.state.seq + 1)
    assert twiml.check(document) == []
    step = URLS.step(2)
    from urllib.parse import quote_plus

    expected = f"https://other.example.com/twiml?lang=+13072249663&ReturnUrl={quote_plus(step)}"
    assert f'<Redirect method="POST">{expected.replace("&", "&amp;")}</Redirect>' in document
    compiled = validation.compile_flow(REDIRECT)
    back = engine.step(compiled, first.state, RedirectEnded("return", {"choice": "2"}), NOW)
    assert back.state.widgets["r"] == {"choice": "2"} and back.state.path[-2] == "return"
    assert back.actions[0].text == "Welcome back 2."  # type: ignore[union-attr]
    assert engine.step(compiled, first.state, RedirectEnded("timeout"), NOW).state.path[-2] == "timeout"
    assert engine.step(compiled, first.state, RedirectEnded("odd"), NOW).state.path[-2] == "failed"
    # a host that cannot read the return hands in what it hands any step: the call comes back
    assert engine.step(compiled, first.state, HttpCompleted(0, "", "no pending request"), NOW).state.path[-2] == \
        "return"  # fmt: skip
    with pytest.raises(UnexpectedEvent):
        engine.step(compiled, first.state, DialEnded("completed"), NOW)


def test_a_redirect_to_no_url_fails_at_once() -> None:
    result = start(flow(node("r", "redirectNode", url="{{ flow.variables.nowhere }}"), {"failed": "Failed."}))
    assert result.state.path[-3:-1] == ["r", "failed"] and not any(isinstance(a, Redirect) for a in result.actions)


def test_simulator_follows_a_redirect() -> None:
    compiled = validation.compile_flow(REDIRECT)
    sim = simulator.simulate(compiled, ["redirect:return:choice=7&x=1"], now=NOW)
    assert [ln.text for ln in sim.transcript][:3] == [
        "redirects the call to https://other.example.com/twiml?lang=+13072249663",
        "the other TwiML ends: return with {'choice': '7', 'x': '1'}", "Welcome back 7."]
    assert simulator.simulate(compiled, ["redirect:timeout"], now=NOW).path[-2] == "timeout"
    assert simulator.simulate(compiled, [], now=NOW).path[-2] == "return"  # the default
    assert sim.problems == []


# --- templated dial targets and gathers without a prompt ------------------------------------------------------


@pytest.mark.parametrize(("target", "dialled"), [
    ({"type": "number", "numbers": ["{{ flow.variables.agent }}", "+14155550100"]}, "<Number>+14155550123</Number>"
                                                                                    "<Number>+14155550100</Number>"),
    ({"type": "sip", "uri": "sip:{{ flow.variables.ext }}@pbx.example.com"}, "<Sip>sip:204@pbx.example.com</Sip>"),
    ({"type": "client", "identity": "{{ flow.variables.who }}"}, "<Client>alice</Client>"),
])  # fmt: skip
def test_templated_dial_targets_are_rendered_per_call(target: dict[str, Any], dialled: str) -> None:
    document = flow(node("t", "transferNode", target=target, callerId="{{ flow.variables.shown }}"))
    document["settings"] = {"variables": {"agent": "+1 (415) 555-0123", "ext": "204", "who": "alice",
                                          "shown": "+14155550999"}}  # fmt: skip
    assert validation.validate(document).errors == []
    result = start(document)
    rendered = twiml.render(result.actions, URLS, 2)
    assert dialled in rendered and 'callerId="+14155550999"' in rendered


def test_a_template_that_renders_to_no_number_is_left_out_and_nobody_left_means_failed() -> None:
    document = flow(node("t", "transferNode", target={"type": "number", "numbers": ["{{ flow.variables.x }}"]},
                         callerId="{{ flow.variables.x }}"), {"failed": "Nobody to call."})  # fmt: skip
    result = start(document)
    assert result.state.path[-3:-1] == ["t", "failed"]
    assert [e.type for e in result.events].count("transfer.invalid_target") == 1  # no dial: no caller id
    assert result.state.widgets["t"]["DialCallStatus"] == "failed"


def test_plain_targets_are_still_checked() -> None:
    document = flow(node("t", "transferNode", target={"type": "number", "numbers": ["0800 123"]}))
    [issue] = validation.validate(document).errors
    assert issue.field == "data.target.numbers.0" and "E.164" in issue.message


def test_a_silent_collect_listens_without_a_prompt() -> None:
    forgot = flow(node("c", "collectNode", variable="x"))
    [issue] = validation.validate(forgot).errors
    assert issue.node_id == "c" and "'silent': true" in issue.message
    document = flow(node("c", "collectNode", variable="x", inputType="dtmf speech", silent=True),
                    {"success": "Got {{x}}."})  # fmt: skip
    assert validation.validate(document).errors == []
    result = start(document)
    rendered = twiml.render(result.actions, URLS, 2)
    assert "<Gather" in rendered and "<Say" not in rendered and twiml.check(rendered) == []


def test_the_json_schema_lets_dial_targets_be_templates() -> None:
    defs = validation.json_schema()["$defs"]
    for schema in (defs["NumberTarget"]["properties"]["numbers"]["items"], defs["SipTarget"]["properties"]["uri"],
                   defs["ClientTarget"]["properties"]["identity"], defs["TransferData"]["properties"]["callerId"]):
        patterns = [option.get("pattern") for option in schema["anyOf"]]
        assert r"\{\{|\{%" in patterns and len([p for p in patterns if p]) == 2
