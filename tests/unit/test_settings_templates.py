"""Templates in the flow's settings texts: checked before publish, and never fatal to a call."""

from __future__ import annotations

from typing import Any

import pytest
from flowkit import Call, chain, collect, compiled, document, edge, hangup, say, start

from common.core import templating, validation
from common.core.call import Hangup, Say
from common.core.flow import CollectNode, CompiledFlow, Edge


def _doc(**settings: Any) -> dict[str, Any]:
    return document([start(), say("hello", "Hello."), hangup("bye", "Bye.")], chain("start", "hello", "bye"),
                    **settings)  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "field", "line"),
    [
        pytest.param({"goodbyeMessage": "Bye {{ x"}, "settings.goodbyeMessage", 1, id="goodbye-unclosed"),
        pytest.param({"errorMessage": "{% if %}"}, "settings.errorMessage", 1, id="error-empty-if"),
        pytest.param({"goodbyeMessage": "Bye\nnow {{ caller.from | }}"}, "settings.goodbyeMessage", 2,
                     id="goodbye-second-line"),
    ],
)  # fmt: skip
def test_settings_templates_are_checked(settings: dict[str, Any], field: str, line: int) -> None:
    report = validation.validate(_doc(**settings))
    [issue] = [i for i in report.errors if i.code == "invalid_template"]
    assert issue.field == field
    assert f"line {line}, column" in issue.message


def test_both_bad_settings_texts_are_reported_together() -> None:
    report = validation.validate(_doc(goodbyeMessage="Bye {{ x", errorMessage="{% if %}"))
    assert sorted(i.field or "" for i in report.errors if i.code == "invalid_template") == [
        "settings.errorMessage", "settings.goodbyeMessage"]  # fmt: skip


def test_settings_templates_are_linted_like_node_texts() -> None:
    report = validation.validate(_doc(goodbyeMessage="Bye {{ flow.variables.nme }}", variables={"name": "x"}))
    assert report.ok
    [warning] = [w for w in report.warnings if w.code == "undefined_variable"]
    assert warning.field == "settings.goodbyeMessage"
    assert "flow.variables.name" in warning.message


def test_settings_template_problem_is_reported_when_other_settings_are_invalid() -> None:
    report = validation.validate(_doc(voice=5, goodbyeMessage="Bye {{ x"))
    assert {"settings.goodbyeMessage", "settings.voice"} <= {i.field for i in report.errors}


def _stored(flow: CompiledFlow, **settings: Any) -> CompiledFlow:
    """A version stored before its settings were checked: bypasses validation on purpose."""
    bad = flow.flow.settings.model_copy(update=settings)
    return CompiledFlow(flow.flow.model_copy(update={"settings": bad}), flow.start_id)


def test_a_stored_bad_goodbye_template_does_not_crash_the_call() -> None:
    flow = _stored(compiled([start(), say("hello", "Hello.")], chain("start", "hello")),
                   goodbye_message="Bye {{ x")  # fmt: skip
    result = Call(flow).start()
    assert result.state.status == "ended"
    assert result.actions[-2:] == (Say("Bye", None, "en-US"), Hangup())
    [problem] = [e for e in result.events if e.type == "template.invalid"]
    assert problem.data["field"] == "settings.goodbyeMessage"
    assert "line 1" in problem.data["error"]


def test_a_stored_bad_error_template_falls_back_to_a_safe_message() -> None:
    line = compiled([start(), say("a", "A."), say("b", "B.")], chain("start", "a", "b"))
    looped = line.flow.model_copy(update={"edges": [*line.flow.edges, Edge.model_validate(edge("b", "a"))]})
    flow = _stored(CompiledFlow(looped, line.start_id), error_message="{% if %}")
    result = Call(flow).start()
    assert result.state.end_reason == "loop_guard"
    spoken = result.actions[-2]
    assert isinstance(spoken, Say)
    assert spoken.text and "{%" not in spoken.text
    assert any(e.type == "template.invalid" for e in result.events)


def test_a_node_text_that_does_not_parse_is_spoken_without_its_markup() -> None:
    flow = compiled([start(), collect("menu", prompt="Press one.")], chain("start", "menu"))
    nodes = dict(flow.nodes)
    menu = nodes["menu"]
    assert isinstance(menu, CollectNode)
    broken = menu.model_copy(update={"data": menu.data.model_copy(update={"prompt": "Press {{ one. Thanks"})})
    stored = CompiledFlow(flow.flow.model_copy(update={"nodes": [nodes["start"], broken]}), flow.start_id)
    result = Call(stored).start()
    assert result.state.waiting == "input"
    assert any(e.type == "template.invalid" for e in result.events)


@pytest.mark.parametrize(
    ("source", "expected"),
    [("Bye {{ x", "Bye"), ("{% if %}", ""), ("a {{ b }} c {% if", "a  c"), ("plain", "plain")],
)
def test_render_never_raises_on_syntax_errors(source: str, expected: str) -> None:
    assert templating.render(source, {}) == expected
