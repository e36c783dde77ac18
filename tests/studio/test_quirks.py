"""What real exports contain: loose values, odd names, hand-written Liquid, two spellings, placeholders."""

from __future__ import annotations

from typing import Any

import pytest
from studiokit import codes, definition, edges, imported, nodes, run, said, widget


def bye(name: str = "bye") -> dict[str, Any]:
    return widget(name, "say-play", [("audioComplete", None)], say="Goodbye.")


@pytest.mark.parametrize(("raw", "expected"), [("3600", 3600), (" 30 ", 30), (30.0, 30), ("45.4", 45), (12, 12)])
def test_numbers_arrive_as_text_or_numbers(raw: Any, expected: int) -> None:
    result = imported(definition(widget("vm", "record-voicemail", [("recordingComplete", "bye")], max_length=raw),
                                 bye()))  # fmt: skip
    assert nodes(result)["vm"]["data"]["maxLength"] == expected
    assert codes(result) == []


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False), (True, True), ("TRUE", True),
                                               ("0", False), (1, True), ("", False)])  # fmt: skip
def test_booleans_arrive_as_text_or_booleans(raw: Any, expected: bool) -> None:
    result = imported(definition(widget("vm", "record-voicemail", [], transcribe=raw)))
    assert nodes(result)["vm"]["data"]["transcribe"] is expected


def test_values_out_of_range_are_clamped_and_nonsense_takes_the_default() -> None:
    result = imported(definition(widget("g", "gather-input-on-call", [("timeout", None)], say="Hi", timeout="600",
                                        number_of_digits="lots")))  # fmt: skip
    data = nodes(result)["g"]["data"]
    assert data["timeout"] == 60 and "numDigits" not in data
    assert [w["code"] for w in result.report["warnings"] if w["widget"] == "g"] == ["invalid_value", "clamped"]


def test_names_with_spaces_and_mixed_case_become_node_ids_and_templates_follow() -> None:
    menu = widget("Main Menu", "gather-input-on-call", [("keypress", "Echo It"), ("speech", "Echo It")], say="Go")
    echo = widget("Echo It", "say-play", [("audioComplete", "MixedCase")],
                  say="You pressed {{widgets[\"Main Menu\"].Digits}}, {{ widgets.MixedCase.x | default: 'ok' }}.")
    mixed = widget("MixedCase", "set-variables", [], variables=[{"key": "Tier Level", "value": "gold"}])
    result = imported(definition(menu, echo, mixed, first="Main Menu"))
    assert {"Main_Menu", "Echo_It", "MixedCase"} <= set(nodes(result))
    assert nodes(result)["Echo_It"]["data"]["text"] == (
        "You pressed {{widgets.Main_Menu.Digits}}, {{ widgets.MixedCase.x | default: 'ok' }}.")
    assert nodes(result)["MixedCase"]["data"]["variables"] == [{"name": "Tier_Level", "value": "gold"}]
    sim = run(result, ["7"])
    assert said(sim)[-1] == "You pressed 7, ok."
    assert sim.variables["Tier_Level"] == "gold"


def test_stray_spaces_inside_liquid_paths_are_removed_but_not_inside_quotes() -> None:
    menu = widget("menu", "gather-input-on-call", [("keypress", "echo")], say="Go")
    echo = widget("echo", "say-play", [], say="{{ widgets. menu .Digits }} {{ 'a . b' }} {{flow.variables .x}}")
    result = imported(definition(menu, echo))
    assert nodes(result)["echo"]["data"]["text"] == "{{ widgets.menu.Digits }} {{ 'a . b' }} {{flow.variables.x}}"
    assert said(run(result, ["3"]))[-1] == "3 a . b "


def test_studio_contact_and_flow_names_read_the_call() -> None:
    greet = widget("greet", "say-play", [], say="From {{contact.channel.address}} to {{flow.channel.address}}")
    result = imported(definition(greet))
    assert said(run(result, [], caller_number="+15005550001", dialled_number="+15005550002")) == [
        "From +15005550001 to +15005550002"]


def test_a_message_only_name_on_a_call_is_reported() -> None:
    result = imported(definition(widget("greet", "say-play", [], say="Hi {{trigger.message.Body}}")))
    assert ("greet", "not_on_a_call") in codes(result)


def test_camel_case_and_snake_case_side_by_side() -> None:
    same = widget("q", "send-to-flex", [], workflow="sales", waitUrl="https://x.example/w", wait_url="https://x.example/w")
    result = imported(definition(same), departments=["sales"])
    assert ("q", "conflicting_spellings") not in codes(result) and ("q", "no_effect") in codes(result)
    differ = widget("q", "enqueue-call", [], queueName="support", queue_name="sales")
    result = imported(definition(differ), departments=["sales", "support"])
    assert nodes(result)["q"]["data"]["target"]["department"] == "sales"  # snake_case wins, and says so
    camel = widget("g", "gather-input-on-call", [], say="Hi", numberOfDigits="4", finishOnKey="*")
    data = nodes(imported(definition(camel)))["g"]["data"]
    assert (data["numDigits"], data["finishOnKey"]) == (4, "*")


@pytest.mark.parametrize(("kind", "spelling", "official"), [
    ("make-http-request", "fail", "failed"), ("make-http-request", "failed", "failed"),
    ("run-function", "failed", "failed"), ("run-function", "fail", "failed"),
    ("connect-call-to", "callComplete", "completed"), ("connect-call-to", "callCompleted", "completed"),
    ("enqueue-call", "callCompleted", "completed"), ("send-to-flex", "callComplete", "completed"),
    ("record-voicemail", "recordingCompleted", "recorded"), ("say-play", "audioCompleted", "next"),
])  # fmt: skip
def test_inconsistent_event_names_mean_the_same(kind: str, spelling: str, official: str) -> None:
    props = {"url": "https://e.example/x", "to": "+14155550100", "queue_name": "sales", "say": "Hi"}
    result = imported(definition(widget("w", kind, [(spelling, "bye")], **props), bye()), departments=["sales"])
    assert ("w", official, "bye") in edges(result)
    assert codes(result) == [] or all(code != "unknown_event" for _, code in codes(result))


def test_placeholders_are_filled_or_reported() -> None:
    fn = widget("fn", "run-function", [("success", "bye"), ("fail", "bye")], url="https://${DOMAIN}/check")
    filled = imported(definition(fn, bye()), placeholders={"DOMAIN": "svc.example.com"})
    assert nodes(filled)["fn"]["data"]["url"] == "https://svc.example.com/check"
    assert codes(filled) == []
    left = imported(definition(fn, bye()))
    assert nodes(left)["fn"]["data"]["url"] == "https://${DOMAIN}/check"
    assert codes(left) == [("fn", "placeholder")]
    assert "--set DOMAIN=VALUE" in left.report["warnings"][0]["message"]


def test_unknown_widget_types_are_reported_and_the_call_goes_on() -> None:
    future = widget("hologram", "project-hologram", [("done", "bye")], size="large")
    result = imported(definition(future, bye()))
    assert result.ok
    assert ("hologram", "unknown_widget_type") in codes(result)
    entry = next(w for w in result.report["widgets"] if w["widget"] == "hologram")
    assert entry["type"] == "project-hologram" and "skipped" in entry["became"]
    assert said(run(result, [])) == ["Goodbye."]


def test_broken_liquid_is_spoken_without_its_markup_and_reported() -> None:
    result = imported(definition(widget("s", "say-play", [], say="Hello {{ name ")))
    assert result.ok and ("s", "invalid_template") in codes(result)
    assert said(run(result, [])) == ["Hello"]


def test_widgets_without_a_name_or_with_a_duplicate_name_are_reported() -> None:
    document = definition(bye("a"), bye("a"), {"type": "say-play"}, "not a widget")  # type: ignore[arg-type]
    result = imported(document)
    assert ("a", "duplicate_widget") in codes(result)
    assert [c for w, c in codes(result) if c == "invalid_widget"] == ["invalid_widget", "invalid_widget"]


def test_a_transition_back_into_the_trigger_ends_the_execution() -> None:
    result = imported(definition(widget("loop", "say-play", [("audioComplete", "Trigger")], say="Again?")))
    assert result.ok and ("loop", "into_trigger") in codes(result)
    assert ("loop", "next", "end") in edges(result)


def test_a_name_with_a_dot_or_colon_becomes_an_id_templates_can_read() -> None:
    menu = widget("menu.v2:main", "gather-input-on-call", [("keypress", "echo")], say="Go")
    echo = widget("echo", "say-play", [], say="You pressed {{widgets['menu.v2:main'].Digits}}")
    result = imported(definition(menu, echo))
    assert "menu_v2_main" in nodes(result)
    assert said(run(result, ["4"]))[-1] == "You pressed 4"
