"""Decision rule values are templates; text that renders to nothing never reaches Twilio as an empty verb;
React-Flow UI fields written by newer designers are accepted and ignored."""

from __future__ import annotations

import pytest

from common.core import twiml, validation
from tests.unit.flowkit import Call, chain, compiled, decision, document, edge, hangup, rule, say, set_vars, start

URLS = twiml.UrlBuilder("https://ivr.example.test")


@pytest.mark.parametrize(("amount", "branch"), [("50", "small"), ("500", "large"), ("100", "large")])
def test_rule_values_are_rendered_before_comparison(amount: str, branch: str) -> None:
    flow = compiled(
        [start(), set_vars("vars", amount=amount, threshold="100"),
         decision("check", "{{ flow.variables.amount }}",
                  rule("small", "less_than", "{{ flow.variables.threshold }}")),
         hangup("small", "small"), hangup("large", "large")],
        [*chain("start", "vars", "check"), edge("check", "small", "small"), edge("check", "large", "default")],
    )  # fmt: skip
    result = Call(flow).start()
    assert result.state.path[-1] == branch


def test_list_rule_values_are_rendered_item_by_item() -> None:
    flow = compiled(
        [start(), set_vars("vars", vip="42"),
         decision("check", "42", rule("vip", "matches_any_of", ["7", "{{ flow.variables.vip }}"])),
         hangup("vip", "vip"), hangup("other", "other")],
        [*chain("start", "vars", "check"), edge("check", "vip", "vip"), edge("check", "other", "default")],
    )  # fmt: skip
    assert Call(flow).start().state.path[-1] == "vip"


def test_a_say_that_renders_empty_is_left_out_of_the_twiml() -> None:
    flow = compiled([start(), say("greet", "{{ flow.variables.nothing }}"), hangup("bye", "Goodbye.")],
                    chain("start", "greet", "bye"), variables={"nothing": ""})  # fmt: skip
    result = Call(flow).start()
    document_ = twiml.render(result.actions, URLS, result.state.seq + 1)
    assert "<Say" in document_ and "<Say />" not in document_ and "></Say>" not in document_
    assert twiml.check(document_) == []


@pytest.mark.parametrize("body", [
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say></Say><Hangup /></Response>',
    '<?xml version="1.0" encoding="UTF-8"?><Response><Play /><Hangup /></Response>',
])  # fmt: skip
def test_check_flags_empty_say_and_play(body: str) -> None:
    assert any("empty" in p or "no URL" in p for p in twiml.check(body))


def test_newer_react_flow_ui_fields_are_accepted() -> None:
    doc = document([start(), hangup("bye", "Bye.")], [edge("start", "bye")])
    doc["nodes"][0].update(extent="parent", connectable=True, focusable=True, ariaLabel="start", expandParent=False)
    doc["edges"][0].update(interactionWidth=20, className="flow-edge", labelStyle={"fill": "red"}, labelShowBg=True)
    report = validation.validate(doc)
    assert report.errors == []
    doc["nodes"][0]["notAReactFlowField"] = 1
    errors = validation.validate(doc).errors
    assert [(e.code, e.node_id) for e in errors if e.code == "invalid_field"] == [("invalid_field", "start")]


@pytest.mark.parametrize(
    ("tenant", "department"), [("acme", "sales"), ("a" * 40, "d" * 48), ("a" * 40, "d" * 47 + "x")]
)
def test_queue_names_fit_twilio_and_stay_distinct(tenant: str, department: str) -> None:
    name = URLS.queue_name(department, tenant)
    assert len(name) <= 64
    assert name == URLS.queue_name(department, tenant)  # stable: every webhook must name the same queue
    if len(f"{tenant}.{department}") <= 64:
        assert name == f"{tenant}.{department}"


def test_long_queue_names_that_share_a_prefix_do_not_collide() -> None:
    assert URLS.queue_name("d" * 48, "a" * 40) != URLS.queue_name("d" * 47 + "x", "a" * 40)
