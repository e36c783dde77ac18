"""validation.validate / compile_flow / json_schema: one test per issue code, and the report as a whole."""

from __future__ import annotations

import copy
import json
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

from common.core import validation
from common.core.errors import FlowInvalid
from common.core.flow import NODE_TYPES, CompiledFlow

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))


def base() -> dict[str, Any]:
    """start -> hello -> bye: valid, with no warnings."""
    return document([start(), say("hello", "Hello."), hangup("bye", "Bye.")], chain("start", "hello", "bye"))


def with_nodes(*extra: dict[str, Any], edges: list[dict[str, Any]] | None = None, **settings: Any) -> dict[str, Any]:
    """start -> X for the first extra node; more edges when given."""
    first = extra[0]["id"]
    return document([start(), *extra], [edge("start", first), *(edges or [])], **settings)


def only(report: validation.ValidationReport, code: str, severity: str = "error") -> validation.Issue:
    issues = [i for i in (report.errors if severity == "error" else report.warnings) if i.code == code]
    assert len(issues) == 1, report
    return issues[0]


def test_base_flow_is_clean() -> None:
    report = validation.validate(base())
    assert (report.errors, report.warnings, report.ok) == ([], [], True)


# --- one case per code -----------------------------------------------------------------------------


def _too_large() -> dict[str, Any]:
    doc = base()
    doc["nodes"] = doc["nodes"] + [say(f"s{i}", "x") for i in range(validation.MAX_NODES)]
    return doc


def _mutate(fn: Any) -> dict[str, Any]:
    doc = base()
    fn(doc)
    return doc


LOOP = document([start(), say("a", "A"), set_vars("b", x="1"), transfer("c", department()), hangup("z")],
                [edge("start", "a"), edge("a", "b"), edge("b", "c"), edge("c", "a", "busy"),
                 edge("c", "z", "completed"), edge("c", "z", "noAnswer", "e-na"),
                 edge("c", "z", "failed", "e-f")])  # fmt: skip

CASES = [
    # (id, document, schedules, severity, code, node_id, edge_id, field, phrases)
    ("unknown_node_type", _mutate(lambda d: d["nodes"].append(node("m", "menuNode"))), None, "error",
     "unknown_node_type", "m", None, "type", ["'menuNode'", ", ".join(sorted(NODE_TYPES))]),
    ("invalid_field-e164", with_nodes(transfer("t", {"type": "number", "numbers": ["0800 123"]})), None,
     "error", "invalid_field", "t", None, "data.target.numbers.0", ["'0800 123'", "E.164"]),
    ("invalid_field-caller-id", with_nodes(transfer("t", department(), callerId="14155550100")), None,
     "error", "invalid_field", "t", None, "data.callerId", ["E.164"]),
    ("invalid_field-say-4096", with_nodes(say("s", "x" * 4097)), None, "error", "invalid_field", "s", None,
     "data.text", ["4096", "split the text"]),
    ("invalid_field-unknown-data-field", with_nodes(node("s", "sayNode", txt="Hello")), None, "error",
     "invalid_field", "s", None, "data.txt", ["unknown field 'txt'"]),
    ("invalid_field-missing", with_nodes(node("c", "collectNode", prompt="Press 1")), None, "error",
     "invalid_field", "c", None, "data.variable", ["missing required field 'variable'"]),
    ("invalid_field-variable-name", with_nodes(collect("c", variable="2nd")), None, "error", "invalid_field",
     "c", None, "data.variable", ["'2nd'", "not a valid variable name"]),
    ("invalid_field-say-source", with_nodes(say("s", "Hi", audioUrl="https://x.example.com/a.mp3")), None,
     "error", "invalid_field", "s", None, "data", ["exactly one of 'text' or 'audioUrl'"]),
    ("invalid_field-node-id", _mutate(lambda d: d["nodes"].append(say("bad id!", "x"))), None, "error",
     "invalid_field", "bad id!", None, "id", ["not a valid id"]),
    ("invalid_field-reserved-rule-id", with_nodes(decision("d", "x", rule("default", "is_blank"))), None,
     "error", "invalid_field", "d", None, "data.rules.0.id", ["'default'", "reserved", "rename the rule"]),
    ("invalid_field-duplicate-rule-id",
     with_nodes(decision("d", "x", rule("r", "is_blank"), rule("r", "is_not_blank"))), None, "error",
     "invalid_field", "d", None, "data.rules.1.id", ["rule id 'r' is used twice (rules 0 and 1)"]),
    ("invalid_field-min-over-max", with_nodes(collect("c", validation={"minDigits": 5, "maxDigits": 2})), None,
     "error", "invalid_field", "c", None, "data.validation", ["minDigits (5) is more than maxDigits (2)"]),
    ("duplicate_node_id", _mutate(lambda d: d["nodes"].append(say("hello", "again"))), None, "error",
     "duplicate_node_id", "hello", None, None, ["unique id"]),
    ("duplicate_edge_id", _mutate(lambda d: d["edges"].append(edge("start", "bye", edge_id=d["edges"][0]["id"]))),
     None, "error", "duplicate_edge_id", None, "start.next->hello", None, ["another edge has this id"]),
    ("edge_missing_node", _mutate(lambda d: d["edges"].append(edge("bye", "ghost", edge_id="e-ghost"))), None,
     "error", "edge_missing_node", None, "e-ghost", None, ["'ghost'", "do not exist"]),
    ("unknown_outcome", _mutate(lambda d: d["edges"].append(edge("hello", "bye", "maybe", "e-maybe"))), None,
     "error", "unknown_outcome", "hello", "e-maybe", "sourceHandle", ["'maybe'", "sayNode", "next"]),
    ("unknown_outcome-collect",
     with_nodes(collect("c"), edges=[edge("c", "c", "timeout", "e-t")]), None, "error", "unknown_outcome", "c",
     "e-t", "sourceHandle", ["'timeout'", "success, noInput, noMatch"]),
    ("unknown_outcome-hangup", _mutate(lambda d: d["edges"].append(edge("bye", "hello", None, "e-after"))), None,
     "error", "unknown_outcome", "bye", "e-after", "sourceHandle", ["none (this node ends the call)"]),
    ("duplicate_outcome_edge", _mutate(lambda d: d["edges"].append(edge("hello", "hello2", edge_id="e-dup"))
                                       or d["nodes"].append(say("hello2", "x"))), None,
     "error", "duplicate_outcome_edge", "hello", "e-dup", None, ["'next'", "'hello.next->bye'"]),
    ("no_start_node", document([say("a", "x")]), None, "error", "no_start_node", None, None, None,
     ["no start node", "startNode"]),
    ("several_start_nodes", _mutate(lambda d: d["nodes"].append(start("start2"))), None, "error",
     "several_start_nodes", "start2", None, None, ["exactly one start node"]),
    ("edge_into_start", _mutate(lambda d: d["edges"].append(edge("hello", "start", edge_id="e-back"))
                                or d["edges"].remove(d["edges"][1])), None,
     "error", "edge_into_start", None, "e-back", None, ["into the start node"]),
    ("unhandled_outcome", with_nodes(collect("c"), edges=[edge("c", "c", "noInput"), edge("c", "c", "noMatch")]),
     None, "warning", "unhandled_outcome", "c", None, None, ["'success'", "goodbye message"]),
    ("unreachable_node", _mutate(lambda d: d["nodes"].append(hangup("island"))), None, "warning",
     "unreachable_node", "island", None, None, ["no path from the start node"]),
    ("loop_without_input", LOOP, None, "error", "loop_without_input", "a", None, None,
     ["a -> b -> c -> a", "collectNode"]),
    ("loop_without_input-self", with_nodes(say("s", "x"), edges=[edge("s", "s")]), None, "error",
     "loop_without_input", "s", None, None, ["s -> s"]),
    ("invalid_regex-collect", with_nodes(collect("c", validation={"pattern": "[0-9"}),
                                         edges=[edge("c", "c", h) for h in ("success", "noInput", "noMatch")]),
     None, "error", "invalid_regex", "c", None, "data.validation.pattern", ["'[0-9'", "does not compile"]),
    ("invalid_regex-rule", with_nodes(decision("d", "x", rule("r", "regex", "(ab"))), None, "error",
     "invalid_regex", "d", None, "data.rules.0.value", ["'(ab'", "does not compile"]),
    ("invalid_template", with_nodes(say("s", "Hi {{ caller.from ")), None, "error", "invalid_template", "s", None,
     "data.text", ["does not parse at line 1, column 4", "expected '}}'", "close every {{ with }}"]),
    ("undefined_variable-root", with_nodes(say("s", "Hi {{ account }}")), None, "warning", "undefined_variable",
     "s", None, "data.text", ["'account'", "flow.variables.account"]),
    ("undefined_variable-flow", with_nodes(say("s", "Hi {{ flow.variables.nobody }}")), None, "warning",
     "undefined_variable", "s", None, "data.text", ["'nobody'", "never set"]),
    ("unknown_widget", with_nodes(say("s", "{{ widgets.ghost.Digits }}")), None, "warning", "unknown_widget",
     "s", None, "data.text", ["'widgets.ghost'"]),
    ("invalid_rule_value-missing", with_nodes(decision("d", "x", rule("r", "equal_to"))), None, "error",
     "invalid_rule_value", "d", None, "data.rules.0.value", ["'equal_to' needs a value"]),
    ("invalid_rule_value-list", with_nodes(decision("d", "x", rule("r", "contains", ["a", "b"]))), None, "error",
     "invalid_rule_value", "d", None, "data.rules.0.value", ["takes one value, not a list"]),
    ("invalid_rule_value-number", with_nodes(decision("d", "x", rule("r", "less_than", "ten"))), None, "error",
     "invalid_rule_value", "d", None, "data.rules.0.value", ["'ten' is not a number"]),
    ("invalid_rule_value-time", with_nodes(decision("d", "x", rule("r", "is_before_time", "25:00"))), None,
     "error", "invalid_rule_value", "d", None, "data.rules.0.value", ["HH:MM"]),
    ("invalid_rule_value-date", with_nodes(decision("d", "x", rule("r", "is_after_date", "tomorrow"))), None,
     "error", "invalid_rule_value", "d", None, "data.rules.0.value", ["YYYY-MM-DD"]),
    ("unknown_time_zone", _mutate(lambda d: d.update(settings={"timezone": "Mars/Olympus_Mons"})), None, "error",
     "unknown_time_zone", None, None, "settings.timezone", ["'Mars/Olympus_Mons'", "IANA"]),
    ("unknown_time_zone-directory", _mutate(lambda d: d.update(settings={"timezone": "America"})), None, "error",
     "unknown_time_zone", None, None, "settings.timezone", ["'America'"]),
    ("unknown_schedule", with_nodes(hours("h", "business_hours")), {"support", "weekend"}, "error",
     "unknown_schedule", "h", None, "data.schedule", ["'business_hours' does not exist", "support, weekend"]),
    ("unknown_schedule-none-yet", with_nodes(hours("h", "business_hours")), set(), "error",
     "unknown_schedule", "h", None, "data.schedule", ["(none yet)"]),
    ("unknown_department", with_nodes(transfer("t", department("billing"))), {"departments": {"sales", "support"}},
     "error", "unknown_department", "t", None, "data.target.department",
     ["'billing' does not exist", "sales, support"]),
    ("unknown_department-template", with_nodes(decision("d", "{{ departments.sails.available }}",
                                                        rule("r", "greater_than", "0"))),
     {"departments": {"sales"}}, "error", "unknown_department", "d", None, "data.input",
     ["'departments.sails'", "did you mean departments.sales?"]),
    ("undefined_variable-department-field", with_nodes(decision("d", "{{ departments.sales.free }}",
                                                                rule("r", "greater_than", "0"))),
     None, "warning", "undefined_variable", "d", None, "data.input",
     ["'departments.sales.free'", "available, expectedWait, staffed, waiting"]),
    ("legacy_outcome", with_nodes(transfer("t", department()), hangup("z"),
                                  edges=[edge("t", "z", o) for o in ("completed", "noAnswer", "callbackRequested",
                                                                     "voicemail", "closed", "noAgents", "busy",
                                                                     "failed")]),
     None, "warning", "legacy_outcome", "t", "t.noAnswer->z", None, ["never ends 'noAnswer'", "'timeout'"]),
    ("unknown_outcome-department", with_nodes(transfer("t", department()), edges=[edge("t", "t", "bridged", "e-b")]),
     None, "error", "unknown_outcome", "t", "e-b", "sourceHandle",
     ["'bridged'", "completed, timeout, callbackRequested, voicemail, closed, noAgents, busy, failed"]),
    ("unknown_outcome-dial", with_nodes(transfer("t", {"type": "number", "numbers": ["+14155550100"]}),
                                        edges=[edge("t", "t", "timeout", "e-t")]),
     None, "error", "unknown_outcome", "t", "e-t", "sourceHandle", ["'timeout'", "completed, noAnswer, busy, failed"]),
    ("too_large", _too_large(), None, "error", "too_large", None, None, "nodes",
     [f"{validation.MAX_NODES + 3} nodes", f"limit is {validation.MAX_NODES}"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("doc", "schedules", "severity", "code", "node_id", "edge_id", "field", "phrases"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_issue_code(doc: dict[str, Any], schedules: set[str] | dict[str, Any] | None, severity: str, code: str,
                    node_id: str | None, edge_id: str | None, field: str | None,
                    phrases: list[str]) -> None:  # fmt: skip
    known = schedules if isinstance(schedules, dict) else {"schedules": schedules}
    report = validation.validate(copy.deepcopy(doc), **known)
    issue = only(report, code, severity)
    assert issue.severity == severity
    assert (issue.node_id, issue.edge_id) == (node_id, edge_id)
    if field is not None:
        assert issue.field == field
    for phrase in phrases:
        assert phrase in issue.message
    if severity == "warning":
        assert report.ok, report.errors
        assert code not in codes(report)


def test_every_documented_code_has_a_case() -> None:
    documented = re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", validation.__doc__.split("What is checked, by code:")[1]
                            .split("A loop without")[0])  # fmt: skip
    assert len(documented) == 23
    assert set(documented) == {case[4] for case in CASES}


def test_unhandled_outcome_and_unreachable_node_are_only_warnings() -> None:
    doc = with_nodes(collect("c", validation={"allowedValues": ["1"]}), hangup("island"))
    report = validation.validate(doc)
    assert report.ok
    assert sorted(codes(report, "warning")) == ["unhandled_outcome"] * 3 + ["unreachable_node"]
    assert isinstance(validation.compile_flow(doc), CompiledFlow)


def _unhandled(doc: dict[str, Any]) -> list[str]:
    return sorted(i.message.split("'")[1] for i in validation.validate(doc).warnings if i.code == "unhandled_outcome")


@pytest.mark.parametrize(
    ("target", "handled", "unhandled"),
    [
        pytest.param(department(), ["completed"],
                     ["busy", "callbackRequested", "closed", "failed", "noAgents", "timeout", "voicemail"],
                     id="department"),
        pytest.param(department(), ["completed", "noAnswer"],
                     ["busy", "callbackRequested", "closed", "failed", "noAgents", "voicemail"],
                     id="department-legacy-noAnswer-takes-timeout"),
        pytest.param(department(), ["completed", "noAnswer", "timeout"],
                     ["busy", "callbackRequested", "closed", "failed", "noAgents", "voicemail"],
                     id="department-timeout-and-legacy"),
        pytest.param({"type": "number", "numbers": ["+14155550100"]}, ["completed"], ["busy", "failed", "noAnswer"],
                     id="number"),
        pytest.param({"type": "client", "identity": "ann"}, ["completed", "noAnswer", "busy", "failed"], [],
                     id="client-all"),
    ],
)  # fmt: skip
def test_unhandled_outcomes_depend_on_the_target(target: dict[str, Any], handled: list[str],
                                                 unhandled: list[str]) -> None:  # fmt: skip
    doc = with_nodes(transfer("t", target), hangup("z"), edges=[edge("t", "z", o) for o in handled])
    assert validation.validate(doc).ok
    assert _unhandled(doc) == unhandled


@pytest.mark.parametrize(
    ("priority", "ok"),
    [("high", True), ("NORMAL", True), ("low", True), (0, True), (999, True), ("250", True),
     ("{{ flow.variables.tier }}", True), ("{% if caller.from == '+1' %}high{% endif %}", True),
     (1000, False), (-1, False), ("urgent", False), ("1000", False), ("", False), (True, False), (2.5, False),
     (None, False), ([50], False)],
)  # fmt: skip
def test_department_priority(priority: Any, ok: bool) -> None:
    doc = with_nodes(transfer("t", department(priority=priority)), variables={"tier": "high"})
    errors = validation.validate(doc).errors
    assert (errors == []) is ok, errors
    if not ok:
        assert [(e.field, e.code) for e in errors] == [("data.target.priority", "invalid_field")]
        assert errors[0].message.endswith("use high, normal, low, a whole number 0 to 999, or a template that "
                                          "renders to one of those")  # fmt: skip


def test_department_priority_templates_are_checked() -> None:
    doc = with_nodes(transfer("t", department(priority="{{ flow.variables.tier ")))
    found = [(e.code, e.field) for e in validation.validate(doc).errors]
    assert found == [("invalid_template", "data.target.priority")]


@pytest.mark.parametrize(("value", "ok"), [(30, True), (86_400, True), (29, False), (86_401, False), ("x", False)])
def test_department_max_wait(value: Any, ok: bool) -> None:
    errors = validation.validate(with_nodes(transfer("t", department(maxWaitSeconds=value)))).errors
    assert (errors == []) is ok
    if not ok:
        assert errors[0].field == "data.target.maxWaitSeconds"


def test_departments_known_at_publish_are_checked_and_unknown_otherwise() -> None:
    doc = with_nodes(transfer("t", department("sales")))
    assert validation.validate(doc).ok  # a stored version compiled for a call: the departments are not known
    assert validation.validate(doc, departments={"sales"}).ok
    assert codes(validation.validate(doc, departments=set())) == ["unknown_department"]
    assert "(none yet)" in validation.validate(doc, departments=set()).errors[0].message


@pytest.mark.parametrize(
    ("doc", "ok"),
    [
        pytest.param(with_nodes(say("a", "A"), collect("c"), edges=[edge("a", "c"), edge("c", "a", "noInput")]),
                     True, id="collect-breaks-loop"),
        pytest.param(with_nodes(say("a", "A"), voicemail("v"),
                                edges=[edge("a", "v"), edge("v", "a", "noAudio")]), True, id="voicemail-breaks-loop"),
        pytest.param(with_nodes(say("a", "A"), http("h"), edges=[edge("a", "h"), edge("h", "a", "failed")]),
                     False, id="http-does-not"),
        pytest.param(with_nodes(hours("h"), say("a", "A"), edges=[edge("h", "a", "closed"), edge("a", "h")]),
                     False, id="hours-does-not"),
    ],
)  # fmt: skip
def test_which_nodes_break_a_loop(doc: dict[str, Any], ok: bool) -> None:
    assert ("loop_without_input" not in codes(validation.validate(doc))) is ok


def test_loop_report_names_every_loop_separately() -> None:
    doc = with_nodes(say("a", "A"), say("b", "B"), say("c", "C"),
                     edges=[edge("a", "b"), edge("b", "a", None, "ba")])  # fmt: skip
    doc["nodes"].append(say("d", "D"))
    doc["edges"] += [edge("c", "d"), edge("d", "c")]
    messages = [i.message for i in validation.validate(doc).errors if i.code == "loop_without_input"]
    assert len(messages) == 2
    assert any("a -> b -> a" in m for m in messages)
    assert any("c -> d -> c" in m for m in messages)


def test_several_problems_are_reported_at_once() -> None:
    doc = base()
    doc["nodes"] += [node("m", "menuNode"), say("hello", "dup"), say("s", "{{ oops ")]
    doc["edges"] += [edge("bye", "hello", None, "e-after"), edge("hello", "ghost", "next", "e-ghost")]
    report = validation.validate(doc)
    assert sorted(codes(report)) == sorted(["unknown_node_type", "duplicate_node_id", "invalid_template",
                                            "unknown_outcome", "edge_missing_node"])  # fmt: skip
    assert {(i.code, i.node_id or i.edge_id) for i in report.errors} == {
        ("unknown_node_type", "m"), ("duplicate_node_id", "hello"), ("invalid_template", "s"),
        ("unknown_outcome", "bye"), ("edge_missing_node", "e-ghost"),
    }  # fmt: skip


@pytest.mark.parametrize("value", [None, [], "flow", 42, 3.5, True, ["nodes"]], ids=repr)
def test_a_flow_must_be_an_object(value: Any) -> None:
    report = validation.validate(value)
    assert [(i.code, i.message) for i in report.errors] == [
        ("invalid_field", "a flow must be a JSON object with id, name, nodes and edges")
    ]


@pytest.mark.parametrize(
    ("doc", "field", "phrase"),
    [
        ({"id": "f", "name": "n", "nodes": {"start": {}}}, "nodes", "'nodes' must be a list"),
        ({"id": "f", "name": "n"}, "nodes", "'nodes' must be a list"),
        ({"id": "f", "name": "n", "nodes": [], "edges": "none"}, "edges", "'edges' must be a list"),
        ({"id": "f", "name": "n", "nodes": ["startNode"]}, "nodes.0", "a node must be an object"),
        ({"id": "f", "name": "n", "nodes": [{"type": "menuNode"}]}, "nodes.0.type", "unknown node type"),
        ({"id": "f", "name": "n", "nodes": [{"type": "sayNode", "data": {}}]}, "nodes.0.id", "missing required"),
        ({"id": "f", "name": "n", "nodes": [], "edges": [7]}, "edges.0", "an edge must be a JSON object, not 7"),
        ({"id": "f", "name": "n", "nodes": [], "edges": [{"source": "a"}]}, "edges.0.target", "missing required"),
        ({"id": "bad id", "name": "n", "nodes": []}, "id", "'bad id' is not a valid flow id"),
        ({"id": "f", "name": "n", "nodes": [], "settings": "loud"}, "settings", "must be a JSON object, not 'loud'"),
        ({"id": "f", "nodes": []}, "name", "missing required field 'name'"),
        ({"id": "f", "name": "n", "nodes": [], "settings": {"voise": "x"}}, "settings.voise", "unknown field"),
    ],
)  # fmt: skip
def test_malformed_shapes_are_reported_not_raised(doc: dict[str, Any], field: str, phrase: str) -> None:
    report = validation.validate(doc)
    matching = [i for i in report.errors if i.field == field]
    assert matching, report.errors
    assert phrase in matching[0].message


@pytest.mark.parametrize(
    ("broken", "extra_edges", "expected"),
    [
        pytest.param(say("hello", "x" * 5000), [], [("invalid_field", "hello")], id="invalid-node-only"),
        pytest.param(say("hello", "x" * 5000), [edge("hello", "ghost", edge_id="e-ghost")],
                     [("invalid_field", "hello"), ("edge_missing_node", "e-ghost")],
                     id="really-missing-still-reported"),
    ],
)  # fmt: skip
def test_an_invalid_node_is_not_also_reported_as_missing(broken: dict[str, Any], extra_edges: list[Any],
                                                        expected: list[tuple[str, str]]) -> None:  # fmt: skip
    doc = base()
    doc["nodes"][1] = broken
    doc["edges"] += extra_edges
    errors = validation.validate(doc).errors
    assert [(i.code, i.node_id or i.edge_id) for i in errors] == expected
    missing = [i.message for i in errors if i.code == "edge_missing_node"]
    assert all("'hello'" not in m for m in missing)


def test_react_flow_ui_fields_are_accepted() -> None:
    doc = base()
    doc["nodes"][1].update(width=150, height=40, selected=True, dragging=False, positionAbsolute={"x": 1, "y": 2},
                           measured={"width": 150}, zIndex=3)  # fmt: skip
    doc["edges"][0].update(type="smoothstep", animated=True, markerEnd={"type": "arrow"}, label="go")
    doc["viewport"] = {"x": 0, "y": 0, "zoom": 1}
    assert validation.validate(doc).errors == []


def test_compile_flow_raises_flow_invalid_with_the_same_report() -> None:
    doc = base()
    doc["nodes"].append(node("m", "menuNode"))
    doc["edges"].append(edge("hello", "ghost", edge_id="e-ghost"))
    doc["settings"] = {"timezone": "Nowhere/Land"}
    with pytest.raises(FlowInvalid) as info:
        validation.compile_flow(doc)
    assert info.value.report == validation.validate(doc)
    assert len(info.value.report.errors) == 3
    assert str(info.value).startswith("flow is invalid: error: node 'm', field 'type': unknown node type")
    assert str(info.value).endswith("(and 2 more)")


def test_compile_flow_indexes_the_graph() -> None:
    flow = validation.compile_flow(base())
    assert flow.start_id == "start"
    assert list(flow.nodes) == ["start", "hello", "bye"]
    assert (flow.next_node("start", "next"), flow.next_node("hello", "next"), flow.next_node("bye", "next")) == \
        ("hello", "bye", None)  # fmt: skip


def test_issue_render() -> None:
    issue = validation.Issue(severity="error", code="x", message="broken", node_id="n", edge_id="e", field="f")
    assert issue.render() == "error: node 'n', edge 'e', field 'f': broken"
    assert validation.Issue(severity="warning", code="x", message="hm").render() == "warning: hm"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_clean(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    report = validation.validate(doc)
    assert (report.errors, report.warnings) == ([], [])
    assert validation.compile_flow(doc).flow.id == doc["id"]


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


# --- json_schema -----------------------------------------------------------------------------------

_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
_KEYWORDS = {
    "$schema", "$defs", "$ref", "title", "description", "default", "type", "properties", "required",
    "additionalProperties", "items", "anyOf", "oneOf", "allOf", "enum", "const", "pattern", "minLength",
    "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
    "discriminator", "propertyNames", "patternProperties", "examples",
}  # fmt: skip


def _walk_schema(schema: Any, root: dict[str, Any], path: str) -> None:
    """A structural check of draft 2020-12 as used here: known keywords, resolvable refs, sane types."""
    assert isinstance(schema, dict), path
    unknown = set(schema) - _KEYWORDS
    assert not unknown, f"{path}: unknown keywords {unknown}"
    assert "definitions" not in schema, path  # draft-07 spelling
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), f"{path}: {ref}"
        assert ref.removeprefix("#/$defs/") in root["$defs"], f"{path}: dangling {ref}"
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert set(types) <= _TYPES, path
    if "pattern" in schema:
        re.compile(schema["pattern"])
    if "required" in schema:
        assert set(schema["required"]) <= set(schema.get("properties", {})), path
    for key in ("properties", "patternProperties", "$defs"):
        for name, sub in schema.get(key, {}).items():
            _walk_schema(sub, root, f"{path}/{key}/{name}")
    for key in ("anyOf", "oneOf", "allOf"):
        assert isinstance(schema.get(key, []), list)
        for i, sub in enumerate(schema.get(key, [])):
            _walk_schema(sub, root, f"{path}/{key}/{i}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _walk_schema(schema[key], root, f"{path}/{key}")


def test_json_schema_is_draft_2020_12_json() -> None:
    schema = validation.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "FlowDesigner call flow"
    assert json.loads(json.dumps(schema)) == schema
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"id", "name", "nodes"}
    _walk_schema(schema, schema, "#")


def test_json_schema_discriminates_nodes_on_type() -> None:
    schema = validation.json_schema()
    items = schema["properties"]["nodes"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    mapping = items["discriminator"]["mapping"]
    assert set(mapping) == set(NODE_TYPES)
    assert sorted(ref["$ref"] for ref in items["oneOf"]) == sorted(mapping.values())
    for type_name, ref in mapping.items():
        definition = schema["$defs"][ref.removeprefix("#/$defs/")]
        assert definition["properties"]["type"]["const"] == type_name
        assert {"id", "type"} <= set(definition["required"])


def test_json_schema_uses_designer_field_names() -> None:
    defs = validation.json_schema()["$defs"]
    collect_props = defs["CollectData"]["properties"]
    assert {"noInputMessage", "maxAttempts", "inputType", "promptAudioUrl"} <= set(collect_props)
    assert collect_props["maxAttempts"] == {"default": 3, "maximum": 10, "minimum": 1, "title": "Maxattempts",
                                            "type": "integer"}  # fmt: skip
    assert defs["CollectData"]["additionalProperties"] is False
    target = defs["TransferData"]["properties"]["target"]
    assert target["discriminator"]["propertyName"] == "type"
    assert set(target["discriminator"]["mapping"]) == {"department", "number", "sip", "client"}
    assert "sourceHandle" in defs["Edge"]["properties"]
