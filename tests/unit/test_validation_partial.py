"""A node with an invalid field still takes part in the graph checks, and every problem of it is reported.

Each case breaks one node of the support line example; the report must hold exactly the errors that
name the broken field and no warning the intact example does not have.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.core import validation

SUPPORT_LINE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "support_line.json").read_text())


def _node(doc: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in doc["nodes"] if n["id"] == node_id)


def _rename(doc: dict[str, Any], old: str, new: str) -> None:
    _node(doc, old)["id"] = new
    for e in doc["edges"]:
        e["source"] = new if e["source"] == old else e["source"]
        e["target"] = new if e["target"] == old else e["target"]


Mutation = Callable[[dict[str, Any]], None]


def _issues(report: validation.ValidationReport) -> set[tuple[str, str | None, str | None]]:
    return {(i.code, i.node_id, i.field) for i in [*report.errors, *report.warnings]}


CLEAN = _issues(validation.validate(SUPPORT_LINE))


@pytest.mark.parametrize(
    ("mutate", "errors"),
    [
        pytest.param(lambda d: _node(d, "greeting")["data"].update(text="x" * 5000),
                     {("invalid_field", "greeting", "data.text")}, id="text-too-long"),
        pytest.param(lambda d: _node(d, "greeting")["data"].update(voice=5),
                     {("invalid_field", "greeting", "data.voice")}, id="voice-not-text"),
        pytest.param(lambda d: _node(d, "menu")["data"].update(timeout=999),
                     {("invalid_field", "menu", "data.timeout")}, id="collect-timeout"),
        pytest.param(lambda d: _node(d, "to_sales")["data"].update(timeout=999),
                     {("invalid_field", "to_sales", "data.timeout")}, id="transfer-timeout"),
        pytest.param(lambda d: _node(d, "route")["data"]["rules"][0].update(operator="equals"),
                     {("invalid_field", "route", "data.rules.0.operator")}, id="bad-operator"),
        pytest.param(lambda d: _rename(d, "menu", "menu!"),
                     {("invalid_field", "menu!", "id")}, id="bad-id-of-the-node-setting-a-variable"),
        pytest.param(lambda d: _rename(d, "greeting", "bad id!"),
                     {("invalid_field", "bad id!", "id")}, id="bad-node-id"),
        pytest.param(lambda d: _node(d, "to_sales")["data"].update(target={"type": "department"}),
                     {("invalid_field", "to_sales", "data.target.department")}, id="transfer-target"),
        pytest.param(lambda d: _node(d, "menu")["data"].update(validation={"pattern": "[0-9", "minDigits": 0}),
                     {("invalid_field", "menu", "data.validation.minDigits"),
                      ("invalid_regex", "menu", "data.validation.pattern")}, id="collect-hides-nothing"),
    ],
)  # fmt: skip
def test_one_bad_field_reports_only_itself(mutate: Mutation, errors: set[tuple[str, str | None, str | None]]) -> None:
    doc = copy.deepcopy(SUPPORT_LINE)
    mutate(doc)
    report = validation.validate(doc)
    assert {(i.code, i.node_id, i.field) for i in report.errors} == errors
    new_warnings = {(i.code, i.node_id, i.field) for i in report.warnings} - CLEAN
    assert new_warnings == set()


def test_every_field_of_a_node_is_reported() -> None:
    doc = copy.deepcopy(SUPPORT_LINE)
    _node(doc, "menu")["data"].update(timeout=999, maxAttempts="three", prompt="{{ x", voice=5)
    fields = {i.field for i in validation.validate(doc).errors if i.node_id == "menu"}
    assert fields == {"data.timeout", "data.maxAttempts", "data.prompt", "data.voice"}


def test_a_broken_node_still_breaks_a_loop_only_when_it_waits() -> None:
    doc = {"id": "f", "name": "F", "nodes": [
        {"id": "start", "type": "startNode", "data": {}},
        {"id": "a", "type": "sayNode", "data": {"text": "A", "voice": 5}},
        {"id": "b", "type": "sayNode", "data": {"text": "B"}}],
        "edges": [{"id": "1", "source": "start", "target": "a"}, {"id": "2", "source": "a", "target": "b"},
                  {"id": "3", "source": "b", "target": "a"}]}  # fmt: skip
    assert {i.code for i in validation.validate(doc).errors} == {"invalid_field", "loop_without_input"}


def test_a_node_nothing_parses_of_keeps_its_fixed_outcomes() -> None:
    doc = {"id": "f", "name": "F", "nodes": [
        {"id": "start", "type": "startNode", "data": {}},
        {"id": "a", "type": "sayNode", "data": {}},  # neither text nor audioUrl: the whole data is refused
        {"id": "b", "type": "hangupNode", "data": {}}],
        "edges": [{"id": "1", "source": "start", "target": "a"},
                  {"id": "2", "source": "a", "sourceHandle": "nope", "target": "b"}]}  # fmt: skip
    report = validation.validate(doc)
    assert {(i.code, i.node_id or i.edge_id) for i in report.errors} == {("invalid_field", "a"),
                                                                         ("unknown_outcome", "a")}  # fmt: skip
    assert {(i.code, i.node_id) for i in report.warnings} == {("unhandled_outcome", "a"), ("unreachable_node", "b")}
