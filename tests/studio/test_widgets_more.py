"""send-message, record-call, add-twiml-redirect, run-subflow (inlined), templated connect-call-to, and
gathers without a prompt: the nodes they become and how a call runs through them."""

from __future__ import annotations

from typing import Any

from studiokit import codes, definition, edges, imported, nodes, run, said, system, widget

from common.core import simulator


def say(name: str, text: str) -> dict[str, Any]:
    return widget(name, "say-play", [("audioComplete", None)], say=text)


def test_send_message_becomes_a_message_node_and_is_sent_during_the_call() -> None:
    sms = widget("sms", "send-message", [("sent", "ok"), ("failed", "ko")], body="Thanks {{contact.channel.address}}",
                 to="{{contact.channel.address}}", **{"from": "{{flow.channel.address}}"},
                 service="{{trigger.message.InstanceSid}}")  # fmt: skip
    result = imported(definition(sms, say("ok", "We texted you."), say("ko", "We could not text you.")))
    assert nodes(result)["sms"] == {"id": "sms", "type": "messageNode", "position": {"x": 10.0, "y": 20.0},
                                    "data": {"body": "Thanks {{trigger.call.From}}"}}  # fmt: skip
    assert {("sms", "sent", "ok"), ("sms", "failed", "ko")} <= edges(result)
    assert ("sms", "no_effect") in codes(result)
    sim = run(result, [], caller_number="+15005550001")
    assert system(sim)[0] == "sends SMS from +13072249663 to +15005550001: Thanks +15005550001"
    assert said(sim) == ["We texted you."]
    refused = run(result, [], http=[simulator.HttpMock("/Messages.json", 400, '{"message": "bad To"}')])
    assert said(refused) == ["We could not text you."]


def test_send_message_with_its_own_numbers_and_media() -> None:
    sms = widget("sms", "send-message", [("sent", None), ("fail", None)], body="Map", to="+14155550100",
                 **{"from": "+14155550199"}, media_url="https://img.example.com/map.png")  # fmt: skip
    data = nodes(imported(definition(sms)))["sms"]["data"]
    assert data == {"body": "Map", "to": "+14155550100", "from": "+14155550199",
                    "mediaUrl": "https://img.example.com/map.png"}  # fmt: skip


def test_record_call_starts_and_stops_the_recording() -> None:
    start = widget("rec", "record-call", [("success", "stop"), ("failed", None)], record_call="true",
                   recording_channels="dual", trim="trim-silence", recording_status_callback="https://cb.example")
    stop = widget("stop", "record-call", [("success", "done")], record_call=False)
    result = imported(definition(start, stop, say("done", "Recorded.")))
    assert nodes(result)["rec"]["data"] == {"action": "start", "channels": "dual", "trim": True}
    assert nodes(result)["stop"]["data"] == {"action": "stop"}
    assert ("rec", "no_effect") in codes(result)
    sim = run(result, [])
    assert [t for t in system(sim) if t.startswith("Twilio API POST")] == [
        "Twilio API POST Calls/CA00000000000000000000000000000000/Recordings.json (recording)",
        "Twilio API POST Calls/CA00000000000000000000000000000000/Recordings/Twilio.CURRENT.json (recording)"]
    assert said(sim) == ["Recorded."]


def test_add_twiml_redirect_hands_the_call_over_and_takes_it_back() -> None:
    redirect = widget("hand_off", "add-twiml-redirect", [("return", "back"), ("timeout", "late"), ("fail", None)],
                      url="https://apps.example.com/survey?from={{trigger.call.From}}", method="GET", timeout="600")
    back = say("back", "You chose {{widgets.hand_off.choice}}.")
    result = imported(definition(redirect, back, say("late", "Too late.")))
    assert nodes(result)["hand_off"]["data"] == {"url": "https://apps.example.com/survey?from={{trigger.call.From}}",
                                                 "method": "GET", "timeout": 600}  # fmt: skip
    assert {("hand_off", "return", "back"), ("hand_off", "timeout", "late"), ("hand_off", "failed", "end")} <= \
        edges(result)  # fmt: skip
    assert "return_url" in [n["code"] for n in result.report["notes"]]
    sim = run(result, ["redirect:return:choice=2"])
    assert said(sim) == ["You chose 2."]
    assert 'method="GET"' in sim.twiml[0] and "ReturnUrl=https%3A%2F%2Fsimulator.invalid" in sim.twiml[0]
    assert said(run(result, ["redirect:timeout"])) == ["Too late."]


SUBFLOW = {"description": "Verify caller", "initial_state": "Trigger", "states": [
    {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingParent", "next": "ask"}]},
    {"name": "ask", "type": "gather-input-on-call", "properties": {
        "say": "{{trigger.parent.parameters.greeting}}, enter your PIN", "number_of_digits": "4"},
     "transitions": [{"event": "keypress", "next": "remember"}, {"event": "timeout"}]},
    {"name": "remember", "type": "set-variables", "transitions": [{"event": "next"}],
     "properties": {"variables": [{"key": "pin", "value": "{{widgets.ask.Digits}}"}]}},
]}  # fmt: skip


def parent(flow_sid: str = "FW0123") -> dict[str, Any]:
    run_it = widget("verify", "run-subflow", [("completed", "thanks"), ("failed", None)], flow_sid=flow_sid,
                    parameters=[{"key": "greeting", "value": "Hello {{trigger.call.From}}"}])  # fmt: skip
    return definition(run_it, say("thanks", "Thank you, PIN {{flow.variables.verify__pin}} noted."))


def test_run_subflow_is_inlined_with_its_parameters() -> None:
    result = imported(parent(), subflows={"FW0123": {"sid": "FW0123", "definition": SUBFLOW}})
    assert result.ok and result.report["warnings"] == []
    assert nodes(result)["verify"]["data"]["variables"] == [
        {"name": "studio_subflow", "value": "FW0123"},
        {"name": "verify__greeting", "value": "Hello {{trigger.call.From}}"}]
    assert nodes(result)["verify__ask"]["data"]["prompt"] == "{{flow.variables.verify__greeting}}, enter your PIN"
    assert nodes(result)["verify__remember"]["data"]["variables"] == [
        {"name": "verify__pin", "value": "{{widgets.verify__ask.Digits}}"}]
    reported = [w["widget"] for w in result.report["widgets"]]
    assert {"verify/Trigger", "verify/ask", "verify/remember"} <= set(reported)
    sim = run(result, ["1234"], caller_number="+15005550001")
    assert said(sim) == ["Hello +15005550001, enter your PIN [waits for dtmf speech, 5s]",
                         "Thank you, PIN 1234 noted."]  # fmt: skip
    assert sim.path == ["Trigger", "verify", "verify__ask", "verify__ask:input", "verify__remember", "thanks", "end"]
    # the subflow's own end (a timeout without next) goes on with the parent's completed
    assert said(run(result, ["silence"]))[-1] == "Thank you, PIN  noted."


def test_a_subflow_not_given_is_reported_and_the_call_goes_on_as_failed() -> None:
    result = imported(parent())
    assert ("verify", "subflow_missing") in codes(result)
    assert "--subflow FW0123=FILE.json" in result.report["warnings"][0]["message"]
    sim = run(result, [])
    assert said(sim) == [] and sim.path == ["Trigger", "verify", "end"]  # its failed transition has no next


def test_a_subflow_that_runs_itself_stops_at_the_depth_limit() -> None:
    looping = {"initial_state": "Trigger", "states": [
        {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingParent", "next": "again"}]},
        {"name": "again", "type": "run-subflow", "properties": {"flow_sid": "FWloop"},
         "transitions": [{"event": "completed"}]}]}  # fmt: skip
    result = imported(parent("FWloop"), subflows={"FWloop": looping})
    assert result.ok
    assert any(code == "subflow_depth" for _, code in codes(result))


def test_connect_call_to_a_templated_number() -> None:
    lookup = widget("lookup", "make-http-request", [("success", "dial"), ("failed", None)],
                    url="https://api.example.com/oncall")
    dial = widget("dial", "connect-call-to", [("callCompleted", None)], noun="number",
                  to="{{widgets.lookup.parsed.forwardTo}}", caller_id="{{flow.channel.address}}")
    result = imported(definition(lookup, dial))
    assert nodes(result)["dial"]["data"] == {"target": {"type": "number", "numbers": [
        "{{widgets.lookup.parsed.forwardTo}}"]}, "callerId": "{{trigger.call.To}}"}
    sim = run(result, ["dial:completed"], http=[simulator.HttpMock("oncall", 200, '{"forwardTo": "+14155550123"}')])
    assert "dials +14155550123 (ring 30s)" in system(sim)
    assert 'callerId="+13072249663"' in sim.twiml[1]


def test_a_gather_with_nothing_to_say_listens_in_silence() -> None:
    gather = widget("listen", "gather-input-on-call", [("keypress", "got"), ("speech", "got")])
    result = imported(definition(gather, say("got", "Got {{widgets.listen.Digits}}.")))
    assert result.ok and "prompt" not in nodes(result)["listen"]["data"]
    assert nodes(result)["listen"]["data"]["silent"] is True
    assert said(run(result, ["9"])) == [" [waits for dtmf speech, 5s]", "Got 9."]


def test_capture_payments_and_fork_stream_are_reported_and_the_call_goes_on() -> None:
    pay = widget("pay", "capture-payments", [("success", "paid"), ("providerError", "sorry")], payment_amount="10")
    stream = widget("stream", "fork-stream", [("next", "pay")], url="wss://x.example")
    result = imported(definition(stream, pay, say("paid", "Paid."), say("sorry", "We could not take the payment.")))
    assert {("stream", "not_supported"), ("pay", "not_supported")} <= set(codes(result))
    assert said(run(result, [])) == ["We could not take the payment."]


def test_a_pinned_subflow_revision_has_no_effect() -> None:
    document = parent()
    document["states"][1]["properties"]["flow_revision"] = "3"
    result = imported(document, subflows={"FW0123": SUBFLOW})
    assert ("verify", "no_effect") in codes(result)


def test_a_subflows_variables_are_what_the_parent_reads_as_its_widget() -> None:
    run_it = widget("verify", "run-subflow", [("completed", "thanks")], flow_sid="FW0123",
                    parameters=[{"key": "greeting", "value": "Hi"}])  # fmt: skip
    thanks = say("thanks", "PIN {{ widgets.verify.pin }}, {{widgets.verify.pin_length | default: 'n/a'}} "
                 "{{ widgets.verify.pinned }}.")  # fmt: skip
    result = imported(definition(run_it, thanks), subflows={"FW0123": SUBFLOW})
    assert result.ok and result.report["warnings"] == []
    assert nodes(result)["thanks"]["data"]["text"] == (
        "PIN {{ flow.variables.verify__pin }}, {{widgets.verify.pin_length | default: 'n/a'}} "
        "{{ widgets.verify.pinned }}.")  # only what the subflow sets is its output
    assert said(run(result, ["1234"])) == ["Hi, enter your PIN [waits for dtmf speech, 5s]", "PIN 1234, n/a ."]


def test_make_outgoing_call_on_an_incoming_call_is_reported_and_goes_on_as_failed() -> None:
    dial = widget("dial_out", "make-outgoing-call-v2", [("answered", "hello"), ("busy", None), ("noAnswer", None),
                  ("failed", "sorry")], to="{{contact.channel.address}}", **{"from": "{{flow.channel.address}}"},
                  machine_detection="Enable")  # fmt: skip
    result = imported(definition(dial, say("hello", "Hello."), say("sorry", "We are already talking.")))
    assert result.ok and ("dial_out", "unsupported") in codes(result)
    warning = next(w for w in result.report["warnings"] if w["widget"] == "dial_out")
    assert warning["message"] == ("make-outgoing-call-v2 places the call of an execution started from Studio's REST "
                                  "API; on an incoming call there is no call to place, so to, from, machine "
                                  "detection and recording have no effect; the call goes on as after 'failed'")
    assert said(run(result, [])) == ["We are already talking."]
