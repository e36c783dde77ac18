"""Every public Studio export in tests/fixtures/studio imports, validates and runs a caller's path."""

from __future__ import annotations

import pytest
from studiokit import FIXTURES, imported, load, run, said, system

from common.core import simulator, validation

ALL = sorted(p.name for p in FIXTURES.glob("*.json"))
SCHEDULE_API = {"SCHEDULE_MANAGER_DOMAIN": "schedules.example.com"}


def test_there_are_at_least_ten_fixtures() -> None:
    assert len(ALL) >= 10


@pytest.mark.parametrize("name", ALL)
def test_each_fixture_imports_and_validates_without_errors(name: str) -> None:
    result = imported(load(name))
    assert result.ok
    report = validation.validate(result.flow)
    assert report.errors == []
    assert result.report["validation"]["errors"] == []
    # every widget of the export is in the report, once, with what it became
    states = load(name).get("definition", load(name))["states"]
    assert [w["widget"] for w in result.report["widgets"]] == [s["name"] for s in states]
    assert all(w["became"] for w in result.report["widgets"])


@pytest.mark.parametrize("name", ["autodialer.json", "requestbin.json", "vaccine_standby_sms.json",
                                  "webchat_react_app.json", "flex_chat_flow.json"])  # fmt: skip
def test_a_flow_without_a_voice_path_answers_a_call_by_ending_it(name: str) -> None:
    """Studio ends an execution whose incomingCall leads nowhere: the call hangs up silently."""
    result = imported(load(name))
    sim = run(result, ["1"])
    assert said(sim) == []
    assert sim.path == ["Trigger", "end"]
    assert sim.state is not None and sim.state.end_reason == "hangup_node"
    not_imported = [w for w in result.report["widgets"] if w["became"].startswith("not imported")]
    assert len(not_imported) == len(result.report["widgets"]) - 1  # all but the trigger


def test_ivr_builder_speech_path() -> None:
    result = imported(load("ivr_builder_basic.json"))
    sim = run(result, ["speech:Two", "speech:Yes."])
    assert said(sim) == [
        "Response message...",
        "You can say... [waits for dtmf speech, 5s]",
        "Thank you, I heard Two. Is this correct? [waits for dtmf speech, 5s]",
        "Thank you, please wait a moment while I connect your call.",
        # voice_check_branch has no conditions in this template: Studio takes noMatch, so does the import
        "I'm sorry, I don't understand what you said.",
        "You can say... [waits for dtmf speech, 5s]",
    ]
    assert sim.path == ["Trigger", "voice_greeting", "get_branch", "get_branch:input", "voice_confirmation",
                        "voice_confirmation:input", "voice_check_correct", "voice_thank_you", "voice_check_branch",
                        "voice_repeat", "get_branch"]  # fmt: skip
    assert sim.variables["studio_get_branch"] == "Two"
    gather = sim.twiml[0]
    assert 'language="en-US"' in gather and 'hints="Zero, One, Two' in gather and 'finishOnKey=""' in gather


def test_ivr_builder_keypress_and_timeout_paths() -> None:
    result = imported(load("ivr_builder_basic.json"))
    keys = run(result, ["1"])
    assert keys.path == ["Trigger", "voice_greeting", "get_branch", "get_branch:input", "key_input_check_branch",
                         "end"]  # fmt: skip
    silent = run(result, ["silence"])
    assert said(silent) == ["Response message...", "You can say... [waits for dtmf speech, 5s]"]
    assert silent.path == ["Trigger", "voice_greeting", "get_branch", "end"]


def test_schedule_flow_open_and_closed() -> None:
    result = imported(load("flex_schedule_flow.json"), placeholders=SCHEDULE_API)
    assert result.report["warnings"] == []
    url = "https://schedules.example.com/check-schedule"
    opened = run(result, [], http=[simulator.HttpMock(url, 200, '{"isOpen": true}')])
    assert system(opened)[0] == f"HTTP POST {url}"
    assert said(opened) == ["Ahoy! This is an example open message."]
    assert opened.path == ["Trigger", "check_schedule", "is_open", "say_open", "end"]
    closed = run(result, [], http=[simulator.HttpMock(url, 200, '{"isOpen": false, "closedReason": "holiday"}')])
    assert [" ".join(t.split()) for t in said(closed)] == [
        "We are currently closed due to the holiday. Please call back during our normal business hours. "
        "Thank you for calling and have a great day."]
    assert closed.path == ["Trigger", "check_schedule", "is_open", "say_closed", "end"]
    failed = run(result, [], http=[simulator.HttpMock(url, 500, "")])
    assert failed.path == ["Trigger", "check_schedule", "say_open", "end"]  # the export's fail leads there


@pytest.mark.parametrize("name", ["flex_voice_flow.json", "flex_callback_template.json",
                                  "flex_callback_example.json"])  # fmt: skip
def test_flex_flows_queue_the_caller_for_the_mapped_department(name: str) -> None:
    document = load(name)
    workflow = "WORKFLOW_SID_ASSIGN_TO_ANYONE" if name == "flex_callback_example.json" else "WORKFLOW_SID"
    result = imported(document, placeholders={workflow: "WW0123"}, department_map={"WW0123": "support"},
                      departments=["support", "sales"])  # fmt: skip
    assert result.ok
    sim = run(result, ["queue:timeout"])
    assert system(sim)[:2] == ["transfers to department 'support' at priority normal (50): queue support",
                               "department result: timeout"]  # fmt: skip
    assert sim.path == ["Trigger", "SendCallToAgent", "end"]
    target = next(n for n in result.flow["nodes"] if n["id"] == "SendCallToAgent")["data"]["target"]
    assert target["department"] == "support"


def test_flex_voice_flow_without_a_mapping_says_which_department_to_create() -> None:
    result = imported(load("flex_voice_flow.json"))
    found = {(w["code"], w.get("property")) for w in result.report["warnings"]}
    assert ("placeholder", "queue_name") in found and ("department_unmatched", None) in found
    assert not result.strict_ok and result.ok
