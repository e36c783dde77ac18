"""split-based-on: all 17 of Studio's operators, evaluated on a call as Studio evaluates them."""

from __future__ import annotations

import pytest
from studiokit import codes, definition, imported, run, widget

from common.core.flow import Operator

#: (operator, value, input, matches)
CASES = [
    ("equal_to", "sales", "sales", True), ("equal_to", "sales", "Sales.", True), ("equal_to", "5", "5.0", True),
    ("equal_to", "sales", "support", False),
    ("not_equal_to", "sales", "support", True), ("not_equal_to", "sales", "SALES", False),
    ("matches_any_of", "red, green, blue", "Green", True), ("matches_any_of", "red,green", "yellow", False),
    ("does_not_match_any_of", "red,green", "yellow", True), ("does_not_match_any_of", "red,green", "red", False),
    ("is_blank", None, "", True), ("is_blank", None, "   ", True), ("is_blank", None, "x", False),
    ("is_not_blank", None, "x", True), ("is_not_blank", None, "", False),
    ("regex", r"^\d{3}$", "123", True), ("regex", r"^\d{3}$", "12a", False),
    ("contains", "bill", "I have a billing question", True), ("contains", "bill", "support", False),
    ("does_not_contain", "bill", "support", True), ("does_not_contain", "bill", "billing", False),
    ("starts_with", "+44", "+442071234567", True), ("starts_with", "+44", "+14155550100", False),
    ("does_not_start_with", "+44", "+14155550100", True), ("does_not_start_with", "+44", "+4420", False),
    ("less_than", "10", "9", True), ("less_than", "10", "10", False), ("less_than", "10", "abc", False),
    ("greater_than", "9", "10", True), ("greater_than", "10", "9", False),
    ("is_before_time", "17:00", "16:59", True), ("is_before_time", "17:00", "17:30", False),
    ("is_after_time", "09:00", "2026-01-05T10:00:00", True), ("is_after_time", "09:00", "08:00", False),
    ("is_before_date", "2026-02-01", "2026-01-31", True), ("is_before_date", "2026-02-01", "2026-02-02", False),
    ("is_after_date", "2026-02-01", "2026-03-01T00:00:00Z", True), ("is_after_date", "2026-02-01", "junk", False),
]  # fmt: skip


def test_the_table_covers_all_17_operators() -> None:
    assert {c[0] for c in CASES} == set(Operator.__args__)  # type: ignore[attr-defined]
    assert len(Operator.__args__) == 17  # type: ignore[attr-defined]


def flow_for(operator: str, value: str | None, text: str) -> object:
    condition = {"friendly_name": f"If value {operator}", "arguments": ["{{flow.variables.input}}"],
                 "type": operator, **({"value": value} if value is not None else {})}  # fmt: skip
    split = {"name": "check", "type": "split-based-on", "properties": {"input": "{{flow.variables.input}}"},
             "transitions": [{"event": "noMatch", "next": "no"},
                             {"event": "match", "next": "yes", "conditions": [condition]}]}  # fmt: skip
    setter = widget("set", "set-variables", [("next", "check")], variables=[{"key": "input", "value": text}])
    return definition(setter, split, widget("yes", "say-play", [("audioComplete", None)], say="Matched."),
                      widget("no", "say-play", [("audioComplete", None)], say="No match."))  # fmt: skip


@pytest.mark.parametrize(("operator", "value", "text", "matches"), CASES)
def test_operator(operator: str, value: str | None, text: str, matches: bool) -> None:
    result = imported(flow_for(operator, value, text))
    assert result.report["warnings"] == []
    sim = run(result, [])
    assert sim.path[-2] == ("yes" if matches else "no")


@pytest.mark.parametrize(("operator", "value"), [("regex", "(unclosed"), ("less_than", "ten"),
                                                  ("is_before_time", "5pm"), ("is_after_date", "tomorrow"),
                                                  ("equal_to", ""), ("is_like", "x")])  # fmt: skip
def test_a_condition_that_cannot_be_tested_is_reported_and_its_transition_left_out(operator: str, value: str) -> None:
    result = imported(flow_for(operator, value, "x"))
    assert result.ok
    found = codes(result)
    assert ("check", "unknown_operator" if operator == "is_like" else "invalid_value") in found
    assert run(result, []).path[-2] == "no"  # every call takes noMatch, as the report says
