"""What validation says: the project's own words (never pydantic's), paths as the docs spell them,
every settings problem at once, no warnings about what cannot happen, and suggestions for typos."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flowkit import (
    chain,
    codes,
    collect,
    decision,
    department,
    document,
    edge,
    hangup,
    http,
    node,
    rule,
    say,
    start,
    transfer,
    voicemail,
)

from common.core import field_messages, flow, validation

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "flow-format.md").read_text(encoding="utf-8")
PYDANTIC_WORDING = re.compile(r"Input should|String should|List should|Value error|valid dictionary|"
                              r"Field required|Extra inputs|constrained-|literal\[|\[key\]")  # fmt: skip


def single(*nodes: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return document([start(), *nodes], chain("start", nodes[0]["id"]) if nodes else [], **settings)


def errors_of(doc: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(issue.field, issue.message) for issue in validation.validate(doc).errors]


# (id, document, field, the exact message)
WORDING = [
    ("range-max", single(collect("c", timeout=90)), "data.timeout", "timeout is 90; use 1 to 60 seconds"),
    ("range-min", single(collect("c", maxAttempts=0)), "data.maxAttempts", "maxAttempts is 0; use 1 to 10 attempts"),
    ("range-float", single(http("h", timeoutSeconds=9)), "data.timeoutSeconds",
     "timeoutSeconds is 9; use 0.5 to 5 seconds"),
    ("range-transfer", single(transfer("t", department(), timeout=2)), "data.timeout",
     "timeout is 2; use 5 to 600 seconds"),
    ("range-in-target", single(transfer("t", department(priority=1000))), "data.target.priority",
     "priority is 1000; use high, normal, low, a whole number 0 to 999, or a template that renders to one of those"),
    ("range-max-wait", single(transfer("t", department(maxWaitSeconds=5))), "data.target.maxWaitSeconds",
     "maxWaitSeconds is 5; use 30 to 86400"),
    ("range-say-loop", single(say("s", "Hi", loop=11)), "data.loop", "loop is 11; use 1 to 10 times"),
    ("not-a-number", single(collect("c", maxAttempts="ten")), "data.maxAttempts",
     "maxAttempts is 'ten'; use 1 to 10 attempts"),
    ("fraction", single(collect("c", numDigits=2.5)), "data.numDigits",
     "numDigits is 2.5; use 1 to 64 digits (a whole number)"),
    ("union-auto-or-seconds", single(collect("c", speechTimeout=99)), "data.speechTimeout",
     "speechTimeout is 99; use 'auto' or 1 to 60 seconds"),
    ("union-rule-value", single(decision("d", "x", rule("r", "equal_to", {"a": 1}))), "data.rules.0.value",
     "value is an object; use text, a number or a list"),
    ("literal", single(collect("c", inputType="sms")), "data.inputType",
     "inputType is 'sms'; use 'dtmf', 'speech' or 'dtmf speech'"),
    ("text-too-long", single(say("s", "x" * 5000)), "data.text", "text is 5000 characters long; use 1 to 4096 "
     "characters (Twilio speaks at most 4096 characters in one Say; split the text)"),
    ("text-empty", single(say("s", "")), "data.text", "text is empty; use 1 to 4096 characters (Twilio speaks at "
     "most 4096 characters in one Say; split the text)"),
    ("list-item-too-long", single(collect("c", hints=["x" * 101])), "data.hints.0",
     "hints.0 is 101 characters long; use 1 to 100 characters"),
    ("list-empty", single(transfer("t", {"type": "number", "numbers": []})), "data.target.numbers",
     "numbers is empty; give 1 to 10 item(s)"),
    ("list-too-long", single(transfer("t", {"type": "number", "numbers": ["+14155550100"] * 11})),
     "data.target.numbers", "numbers is 11 item(s) long; give 1 to 10 item(s)"),
    ("pattern-e164-in-union", single(transfer("t", {"type": "number", "numbers": ["0800"]})), "data.target.numbers.0",
     "'0800' is not an E.164 number: write + then country code and number, digits only (for example +14155550123)"),
    ("pattern-url", single(say("s", None, audioUrl="ftp://x")), "data.audioUrl",
     "'ftp://x' is not a URL: write http:// or https:// and the address, without spaces"),
    ("pattern-sip", single(transfer("t", {"type": "sip", "uri": "agent"})), "data.target.uri",
     "'agent' is not a SIP URI: write sip:user@host (or sips:), without spaces"),
    ("pattern-language", single(say("s", "Hi", language="English")), "data.language",
     "'English' is not a language tag: write it like en-US, fr-FR or es"),
    ("pattern-dict-key", single(http("h", headers={"bad header": "v"})), "data.headers.bad header",
     "'bad header' is not a valid header name: use 1-64 letters, digits or '-'"),
    ("pattern-context-key", single(transfer("t", department(context={"2x": "a"}))), "data.target.context.2x",
     "'2x' is not a valid variable name: use letters, digits and _, starting with a letter or _ "
     "(at most 64 characters)"),
    ("unknown-target-type", single(transfer("t", {"type": "fax"})), "data.target",
     "target type 'fax' is not known; use one of 'department', 'number', 'sip', 'client'"),
    ("target-without-type", single(transfer("t", {"numbers": ["+14155550100"]})), "data.target",
     "target needs a 'type' field naming its kind; see the docs for the accepted types"),
    ("bool", single(voicemail("v", playBeep="loud")), "data.playBeep", "playBeep is 'loud'; use true or false"),
    ("text-type", single(say("s", 42)), "data.text", "text is 42; use text"),
    ("missing", single(node("c", "collectNode", prompt="Press 1")), "data.variable",
     "missing required field 'variable'; add it"),
    ("model-validator", single(say("s", None)), "data", "give exactly one of 'text' or 'audioUrl'"),
    ("data-not-object", single(node("s", "sayNode") | {"data": 7}), "data", "data must be a JSON object, not 7"),
    ("rule-id-reserved", single(decision("d", "x", rule("default", "is_blank"))), "data.rules.0.id",
     "rule id 'default' is reserved: it names the outcome taken when no rule matches; rename the rule"),
    ("settings-not-object", {**document([start()]), "settings": "loud"}, "settings",
     "settings must be a JSON object, not 'loud'"),
    ("settings-variable-value", single(hangup("h"), variables={"l": [1]}), "settings.variables.l",
     "l is a list; use text, a number or true or false"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "field", "message"), [pytest.param(*c[1:], id=c[0]) for c in WORDING])
def test_messages_say_what_is_wrong_and_how_to_fix_it(doc: dict[str, Any], field: str, message: str) -> None:
    found = errors_of(doc)
    assert (field, message) in found, found


@pytest.mark.parametrize("doc", [pytest.param(c[1], id=c[0]) for c in WORDING])
def test_no_message_or_path_uses_pydantic_wording(doc: dict[str, Any]) -> None:
    report = validation.validate(doc)
    for issue in [*report.errors, *report.warnings]:
        assert not PYDANTIC_WORDING.search(issue.message), issue
        assert not PYDANTIC_WORDING.search(issue.field or ""), issue


def _named_segments(path: str) -> list[str]:
    return [p for p in path.split(".") if not p.isdigit()]


def test_every_path_the_validator_emits_is_named_in_the_docs() -> None:
    # Paths are document paths: each named segment is a field the docs describe (dict keys aside).
    keys = {"bad header", "2x", "l"}
    for _, doc, _, _ in WORDING:
        for issue in [*validation.validate(doc).errors, *validation.validate(doc).warnings]:
            for segment in _named_segments(issue.field or ""):
                assert segment in keys or f"`{segment}`" in DOCS, (segment, issue)


def _aliases(model: Any, seen: set[Any]) -> set[str]:
    from pydantic import BaseModel

    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for candidate in re.findall(r"[A-Z]\w+", str(info.annotation)):
            sub = getattr(flow, candidate, None)
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                names |= _aliases(sub, seen)
    return names


def test_every_field_of_the_format_is_documented() -> None:
    seen: set[Any] = set()
    names: set[str] = set()
    for model in (flow.Flow, flow.Edge, flow.FlowSettings, *flow.NODE_TYPES.values()):
        names |= _aliases(model, seen)
    missing = sorted(n for n in names if f"`{n}`" not in DOCS)
    assert missing == []


def test_every_pattern_of_the_models_has_words() -> None:
    patterns = {p for model in (flow.Flow, flow.Edge, *flow.NODE_TYPES.values())
                for p in field_messages.model_patterns(model)}  # fmt: skip
    assert len(patterns) >= 10
    assert patterns - set(field_messages.PATTERN_HELP) == set()


# --- settings: every problem at once -----------------------------------------------------------------


def test_every_settings_problem_is_reported_at_once() -> None:
    doc = single(say("s", "Hi {{ flow.variables.greet }}"), voise="x", language="english", timezone="Mars/X",
                 goodbyeMessage="", variables={"greet": "hi", "2bad": 1})  # fmt: skip
    doc["id"] = "bad id"  # an invalid envelope must not hide the settings either
    report = validation.validate(doc)
    assert sorted(i.field or "" for i in report.errors) == ["id", "settings.goodbyeMessage", "settings.language",
                                                          "settings.timezone", "settings.variables.2bad",
                                                          "settings.voise"]  # fmt: skip
    assert codes(report).count("unknown_time_zone") == 1
    # the variables the settings define still count: no warning that 'greet' is never set
    assert "undefined_variable" not in codes(report, "warning")


# --- no noise: warnings only about what can happen ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "warns_no_match"),
    [
        pytest.param({"inputType": "speech"}, False, id="speech-without-validation"),
        pytest.param({"inputType": "dtmf"}, False, id="keys-without-validation"),
        pytest.param({"inputType": "speech", "validation": {}}, False, id="empty-validation"),
        pytest.param({"inputType": "speech", "validation": {"minDigits": 2}}, False, id="digit-rules-on-speech"),
        pytest.param({"inputType": "dtmf", "validation": {"minDigits": 2}}, True, id="digit-rules-on-keys"),
        pytest.param({"inputType": "speech", "validation": {"allowedValues": ["yes"]}}, True, id="allowed-values"),
        pytest.param({"inputType": "dtmf speech", "validation": {"pattern": "[0-9]+"}}, True, id="pattern"),
    ],
)  # fmt: skip
def test_no_match_is_warned_about_only_when_it_can_happen(data: dict[str, Any], warns_no_match: bool) -> None:
    doc = document([start(), collect("c", **data), hangup("bye")],
                   [edge("start", "c"), edge("c", "bye", "success"), edge("c", "bye", "noInput")])  # fmt: skip
    warned = [i.message for i in validation.validate(doc).warnings if i.code == "unhandled_outcome"]
    assert any("'noMatch'" in m for m in warned) is warns_no_match
    assert len(warned) == int(warns_no_match)


def test_a_rule_named_default_gives_one_error_and_one_warning() -> None:
    report = validation.validate(single(decision("d", "x", rule("default", "is_blank"))))
    assert codes(report) == ["invalid_field"]
    assert [i.message for i in report.warnings].count(
        "outcome 'default' has no edge: a call taking it hears the goodbye message and is hung up; connect it "
        "if that is not meant") == 1


# --- template paths: unknown children of known roots, and what was probably meant ---------------------


@pytest.mark.parametrize(
    ("text", "code", "phrases"),
    [
        ("{{ flow.variabels.x }}", "undefined_variable", ["'flow.variabels' does not exist",
                                                           "did you mean flow.variables?"]),
        ("{{ caller.From }}", "undefined_variable", ["did you mean caller.from?"]),
        ("{{ now.hour }}", "undefined_variable", ["now has now.date, now.iso, now.time, now.weekday"]),
        ("{{ trigger.cal.From }}", "undefined_variable", ["did you mean trigger.call?"]),
        ("{{ flwo.id }}", "undefined_variable", ["'flwo' is not defined", "did you mean flow?"]),
        ("{{ account }}", "undefined_variable", ["did you mean flow.variables.account?"]),
        ("{{ flow.variables.choise }}", "undefined_variable", ["'choise' is never set",
                                                                "did you mean flow.variables.choice?"]),
        ("{{ widgets.men.Digits }}", "unknown_widget", ["'widgets.men' names no node",
                                                        "did you mean widgets.menu?"]),
    ],
)  # fmt: skip
def test_template_paths_that_no_call_has_are_flagged_with_a_suggestion(text: str, code: str,
                                                                       phrases: list[str]) -> None:  # fmt: skip
    doc = document([start(), collect("menu"), say("s", text)],
                   [edge("start", "menu"), *[edge("menu", "s", h) for h in ("success", "noInput")]])  # fmt: skip
    warnings = [i for i in validation.validate(doc).warnings if i.code == code]
    assert len(warnings) == 1, warnings
    assert (warnings[0].node_id, warnings[0].field) == ("s", "data.text")
    for phrase in phrases:
        assert phrase in warnings[0].message


@pytest.mark.parametrize("text", ["{{ flow.variables.choice }} {{ flow.data.choice }} {{ flow.id }}",
                                  "{{ caller.from }} {{ caller.to }} {{ caller.sid }} {{ trigger.call.From }}",
                                  "{{ now.iso }} {{ now.date }} {{ now.time }} {{ now.weekday }}",
                                  "{{ widgets.menu.Digits }}"])  # fmt: skip
def test_real_paths_are_not_flagged(text: str) -> None:
    doc = document([start(), collect("menu"), say("s", text)],
                   [edge("start", "menu"), *[edge("menu", "s", h) for h in ("success", "noInput")]])  # fmt: skip
    assert [i for i in validation.validate(doc).warnings if i.code != "unhandled_outcome"] == []
